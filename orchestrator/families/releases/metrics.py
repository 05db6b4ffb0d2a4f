"""Release and deploy metrics (names in docs/ARCHITECTURE.md's catalogue), updated from the
steps of a finished deploy or drift run:
- `fluxora_release_info{env,version}` 1 for the release the environment runs (verified or
  rolled back to), the series of its earlier release removed;
- `fluxora_deploys_total{env,result}`: `success`, `refused` (a gate or the approved plan),
  `rolled-back`, `rollback-failed`, `failed` (failed before anything was pinned);
- `fluxora_deploy_last_success_timestamp_seconds{env}`;
- `fluxora_release_drift_items{env,action}`: the drift run's plan of the pinned release
  (add/change/remove/error), NaN until a drift run read it.
A daemon that starts with a releases root recalls the first two from the deploy history, so a
restart does not blank them until the next deploy."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.journal import StepRecord
from orchestrator.families.releases.history import Outcome, Record
from orchestrator.families.releases.plan import Action

DRIFT_ACTION = "releases.drift"
RESULTS = ("success", "refused", "rolled-back", "rollback-failed", "failed")


class ReleaseMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.info = Gauge("fluxora_release_info", "The release each environment runs (1).",
                          ("env", "version"), registry=registry)  # fmt: skip
        self.deploys = Counter("fluxora_deploys", "Deploy runs by environment and result.",
                               ("env", "result"), registry=registry)  # fmt: skip
        self.last_success = Gauge(
            "fluxora_deploy_last_success_timestamp_seconds",
            "When a deploy to the environment last applied and verified.",
            ("env",),
            registry=registry,
        )
        self.drift = Gauge(
            "fluxora_release_drift_items",
            "What the plan of the environment's pinned release would do, by action.",
            ("env", "action"),
            registry=registry,
        )
        self._versions: dict[str, str] = {}

    def start(self, env: str) -> None:
        for result in RESULTS:
            self.deploys.labels(env, result)
        for action in Action:
            self.drift.labels(env, action.value).set(math.nan)

    def recall(self, records: Iterable[Record]) -> None:
        """The release each environment runs and its last successful deploy, from the
        history's records in the order they were written."""
        for record in records:
            if record.outcome in (Outcome.VERIFIED, Outcome.ROLLED_BACK):
                self.runs(record.env, record.release)
            if record.outcome == Outcome.VERIFIED:
                self.last_success.labels(record.env).set(record.at)

    def runs(self, env: str, version: str) -> None:
        old = self._versions.get(env)
        if old is not None and old != version:
            self.info.remove(env, old)
        self._versions[env] = version
        self.info.labels(env, version).set(1)

    def observe_deploy(self, env: str, steps: Mapping[str, StepRecord], now: float) -> None:
        result = deploy_result(steps)
        self.deploys.labels(env, result).inc()
        if result == "success":
            self.last_success.labels(env).set(now)
            self.runs(env, str(steps["verify"].output["release"]))
        elif result == "rolled-back":
            self.runs(env, str(steps["rollback"].output["release"]))

    def observe_drift(self, env: str, counts: Mapping[str, int]) -> None:
        for action, count in counts.items():
            self.drift.labels(env, action).set(float(count))


def deploy_result(steps: Mapping[str, StepRecord]) -> str:
    """The `result` label of a deploy from its steps and rollbacks by name."""
    if "rollback" in steps:
        return "rolled-back" if steps["rollback"].ok else "rollback-failed"
    if "verify" in steps and steps["verify"].ok:
        return "success"
    return "failed" if "pin" in steps else "refused"


class ReleaseMetricsHook(RunHook):
    name = "releases"

    def __init__(self, metrics: ReleaseMetrics) -> None:
        self.metrics = metrics

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        journal = run.journal
        steps = {record.name: record for record in (*journal.steps, *journal.rollbacks)}
        if run.runbook.name == "deploy":
            self.metrics.observe_deploy(journal.env, steps, time.time())
        for record in journal.steps:
            if record.action == DRIFT_ACTION and "counts" in record.output:
                self.metrics.observe_drift(journal.env, record.output["counts"])
                self.metrics.runs(journal.env, str(record.output["release"]))
        return None
