"""RTO and RPO of a run, compared with the runbook's targets (AWS Resilience Hub style: each
target `met` or `breached`, and the run's policy `met` only when every target is met).

Where the numbers come from, first that applies:
1. the last successful step whose output has `measurement: {rto_seconds, rpo_seconds,
   rpo_bytes?}` (failover actions measure with a write probe: first failed write to first
   successful write; lost WAL bytes);
2. otherwise RTO is the wall time of the steps (first step start to last step end), and RPO
   is the `rpo_seconds` of the last step that reports one (a restore: the age of the backup it
   restored).
A target with no measurement is `unmeasured`, which does not meet it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.journal import Journal, Phase, RunStatus, StepRecord
from orchestrator.core.runbooks import RunbookSpec, TargetsSpec

MEASUREMENT_KEY = "measurement"


class Verdict(StrEnum):
    MET = "met"
    BREACHED = "breached"
    UNMEASURED = "unmeasured"


class StepMeasurement(BaseModel):
    """What an action may report under `measurement` in its Result data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rto_seconds: float = Field(ge=0)
    rpo_seconds: float = Field(ge=0)
    rpo_bytes: int | None = Field(default=None, ge=0)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    rto_seconds: float | None
    rpo_seconds: float | None
    rpo_bytes: int | None
    source: str


def _steps(journal: Journal) -> list[StepRecord]:
    return [s for s in journal.steps if s.phase is Phase.STEP]


def _reported(steps: list[StepRecord]) -> Measurement | None:
    for step in reversed(steps):
        raw = step.output.get(MEASUREMENT_KEY)
        if not step.ok or raw is None:
            continue
        try:
            found = StepMeasurement.model_validate(raw)
        except ValidationError:
            continue  # not a measurement this hook understands; fall back to wall time
        return Measurement(
            rto_seconds=found.rto_seconds,
            rpo_seconds=found.rpo_seconds,
            rpo_bytes=found.rpo_bytes,
            source=f"step {step.name!r}",
        )
    return None


def _backup_age(steps: list[StepRecord]) -> float | None:
    for step in reversed(steps):
        value = step.output.get("rpo_seconds")
        if step.ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def measure(journal: Journal) -> Measurement:
    steps = _steps(journal)
    reported = _reported(steps)
    if reported is not None:
        return reported
    rto = None
    if steps:
        rto = (max(s.ended_at for s in steps) - min(s.started_at for s in steps)).total_seconds()
    return Measurement(
        rto_seconds=rto, rpo_seconds=_backup_age(steps), rpo_bytes=None, source="wall time"
    )


def verdict(measured: float | None, target: float) -> Verdict:
    if measured is None:
        return Verdict.UNMEASURED
    return Verdict.MET if measured <= target else Verdict.BREACHED


def assess(measurement: Measurement, targets: TargetsSpec) -> dict[str, Any]:
    """The `dr` journal extension: measured values, targets, a verdict each, and the policy."""
    verdicts: dict[str, Verdict] = {}
    if targets.rto is not None:
        verdicts["rto"] = verdict(measurement.rto_seconds, targets.rto)
    if targets.rpo is not None:
        verdicts["rpo"] = verdict(measurement.rpo_seconds, targets.rpo)
    met = all(v is Verdict.MET for v in verdicts.values())
    return {
        "rto_seconds": measurement.rto_seconds,
        "rpo_seconds": measurement.rpo_seconds,
        "rpo_bytes": measurement.rpo_bytes,
        "source": measurement.source,
        "targets": {"rto_seconds": targets.rto, "rpo_seconds": targets.rpo},
        "verdicts": {k: v.value for k, v in verdicts.items()},
        "policy": Verdict.MET.value if met else Verdict.BREACHED.value,
    }


def is_drill(runbook: RunbookSpec) -> bool:
    """A runbook marked `drill: true` has the drill metrics (every run is measured against its
    targets; a backup runbook's targets are not a drill's)."""
    return runbook.drill


def succeeded(journal: Journal, assessment: Mapping[str, Any]) -> bool:
    """`fluxora_drill_last_status` 1: completed, no deviation, every target met."""
    completed = journal.status is RunStatus.COMPLETED
    return completed and not journal.deviated and assessment.get("policy") == Verdict.MET.value
