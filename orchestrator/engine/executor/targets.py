"""RTO and RPO of every run, compared with the runbook's targets (the runner stores the
assessment as `journal.extensions["dr"]`) (AWS Resilience Hub style: each
target `met` or `breached`, and the run's policy `met` only when no measured target is
breached).

Where the numbers come from, first that applies:
1. the last successful step whose output has `measurement: {rto_seconds, rpo_seconds,
   rpo_bytes?}` (failover actions measure with a write probe: first failed write to first
   successful write; lost WAL bytes);
2. otherwise RTO is the wall time of the steps (first step start to last step end), and RPO
   is the `rpo_seconds` of the last step that reports one (a restore: the age of the backup it
   restored).
A target with no measurement is `unmeasured`: it counts neither way. The policy is `breached`
when a measured target is, `met` when every measured target is met, and `unmeasured` when the
run measured none of its targets (a backup has an RPO target its run cannot measure: a
completed backup is not "targets breached").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.journal import Journal, Phase, StepRecord
from orchestrator.core.runbooks import TargetsSpec

MEASUREMENT_KEY = "measurement"
EXTENSION = "dr"  # the journal extension holding the assessment


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
    """Measured values, targets, a verdict each, and the policy."""
    verdicts: dict[str, Verdict] = {}
    if targets.rto is not None:
        verdicts["rto"] = verdict(measurement.rto_seconds, targets.rto)
    if targets.rpo is not None:
        verdicts["rpo"] = verdict(measurement.rpo_seconds, targets.rpo)
    return {
        "rto_seconds": measurement.rto_seconds,
        "rpo_seconds": measurement.rpo_seconds,
        "rpo_bytes": measurement.rpo_bytes,
        "source": measurement.source,
        "targets": {"rto_seconds": targets.rto, "rpo_seconds": targets.rpo},
        "verdicts": {k: v.value for k, v in verdicts.items()},
        "policy": policy(verdicts.values()).value,
    }


def policy(verdicts: Iterable[Verdict]) -> Verdict:
    """Only what was measured counts: breached if one is, met if any is and none breached."""
    measured = [v for v in verdicts if v is not Verdict.UNMEASURED]
    if not measured:
        return Verdict.UNMEASURED
    return Verdict.BREACHED if Verdict.BREACHED in measured else Verdict.MET


def targets_extension(journal: Journal, targets: TargetsSpec, dry_run: bool) -> dict[str, Any]:
    """The `dr` journal extension of a finished run (a dry run measures nothing)."""
    if dry_run:
        return {"dry_run": True, "policy": None}
    return assess(measure(journal), targets)
