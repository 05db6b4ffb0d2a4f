"""Scaling metrics (names from the catalogue in docs/ARCHITECTURE.md), declared once per
registry and updated from the `aws.asg.*` steps' outputs when a job finishes.

`fluxora_asg_desired_capacity` is only ever a value read from (or just set in) AWS: a group
nobody has read yet has no sample, rather than a made-up 0."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.core.hooks import Run, RunHook
from orchestrator.families.scaling.decide import Direction, Suppression
from orchestrator.families.scaling.history import Outcome

ACTION_PREFIX = "aws.asg."

# Every (direction, result) a counted request ends in: a change is applied, fails or is
# suppressed; no change is `unchanged` (a dry run's `planned` is never counted).
COUNTED = (
    *(
        (direction, result)
        for direction in (Direction.OUT, Direction.IN)
        for result in (Outcome.APPLIED, Outcome.FAILED, Outcome.SUPPRESSED)
    ),
    (Direction.NONE, Outcome.UNCHANGED),
)


class ScalingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.actions = Counter(
            "fluxora_scaling_actions",
            "Scaling requests by group, direction and result.",
            ("group", "direction", "result"),
            registry=registry,
        )
        self.suppressed = Counter(
            "fluxora_scaling_suppressed",
            "Scaling requests the safety rules suppressed, by reason.",
            ("group", "reason"),
            registry=registry,
        )
        self.desired = Gauge(
            "fluxora_asg_desired_capacity",
            "Desired capacity of the Auto Scaling group, as last read from or set in AWS.",
            ("group",),
            registry=registry,
        )

    def start(self, groups: Iterable[str]) -> None:
        """Counters of the configured groups start at 0 for every label set they can reach, so
        that `increase()` counts a group's first request of a kind too."""
        for group in groups:
            for direction, result in COUNTED:
                self.actions.labels(group, direction.value, result.value)
            for reason in Suppression:
                self.suppressed.labels(group, reason.value)

    def observe(self, output: Mapping[str, Any]) -> None:
        """Update from one `aws.asg.*` step's output."""
        group = output.get("group")
        if not group or output.get("result") == Outcome.PLANNED:
            return
        if output.get("desired") is not None:
            self.desired.labels(group).set(float(output["desired"]))
        result = output.get("result")
        if result is None:  # a read
            return
        self.actions.labels(group, output.get("direction") or "none", result).inc()
        if output.get("suppressed"):
            self.suppressed.labels(group, output["suppressed"]).inc()


class ScalingMetricsHook(RunHook):
    name = "scaling"

    def __init__(self, metrics: ScalingMetrics) -> None:
        self.metrics = metrics

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        for step in (*run.journal.steps, *run.journal.rollbacks):
            if step.action.startswith(ACTION_PREFIX):
                for output in group_outputs(step.output):
                    self.metrics.observe(output)
        return None


def group_outputs(output: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """One output per group: `aws.asg.set_dr_capacity` nests one per group under `groups`."""
    groups = output.get("groups")
    return list(groups.values()) if isinstance(groups, Mapping) else [output]
