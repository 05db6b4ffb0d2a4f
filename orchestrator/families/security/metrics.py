"""Security check metrics (names from the catalogue in docs/ARCHITECTURE.md): findings per rule
of the environment's last check, and when a check last ran to the end. Updated from the
`security.check` step's output when its job finishes. Until a check has run, both are NaN for
the daemon's environment: "not checked yet" (the series exist, so dashboards and rules see
them; no comparison with NaN is true, so nothing alerts on a check that never ran)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from orchestrator.core.hooks import Run, RunHook

ACTION = "security.check"


class SecurityMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.findings = Gauge(
            "fluxora_security_findings",
            "Findings of the last security check of the environment's cloud resources, by rule.",
            ("env", "rule"),
            registry=registry,
        )
        self.last_success = Gauge(
            "fluxora_security_check_last_success_timestamp_seconds",
            "When a security check of the environment last read all its resources.",
            ("env",),
            registry=registry,
        )

    def start(self, env: str, rules: Iterable[str]) -> None:
        for rule in rules:
            self.findings.labels(env, rule).set(math.nan)
        self.last_success.labels(env).set(math.nan)

    def observe(self, output: Mapping[str, Any], now: float) -> None:
        env = str(output["env"])
        for rule, count in output["counts"].items():
            self.findings.labels(env, rule).set(float(count))
        self.last_success.labels(env).set(now)


class SecurityMetricsHook(RunHook):
    name = "security"

    def __init__(self, metrics: SecurityMetrics) -> None:
        self.metrics = metrics

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        for step in run.journal.steps:
            if step.action == ACTION and step.ok and "counts" in step.output:
                self.metrics.observe(step.output, time.time())
        return None
