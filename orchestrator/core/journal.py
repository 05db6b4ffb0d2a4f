"""The journal of a job's run, Chaos Toolkit style: one constructor, a status plus a separate
`deviated` flag, every step and rollback with its timings and output, written to the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.core.events import utcnow
from orchestrator.core.jobs import Job, JobStatus


class RunStatus(StrEnum):
    """How a run ended. `deviated` is separate: a run can complete with a deviation (a step
    with `on_failure: continue` failed)."""

    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(self.value)


class Phase(StrEnum):
    """Which part of the runbook a step record belongs to: a step, a rollback, or a check
    (steady state before/after, a stop condition that failed)."""

    STEP = "step"
    ROLLBACK = "rollback"
    CHECK = "check"


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed-out"


@dataclass(frozen=True, kw_only=True)
class StepRecord:
    name: str
    action: str
    phase: Phase
    status: StepStatus
    started_at: datetime
    ended_at: datetime
    attempts: int = 1
    changed: bool = False
    output: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is StepStatus.OK

    def template_view(self) -> dict[str, Any]:
        """What later step templates see as `steps.<name>`."""
        return {"ok": self.ok, "output": dict(self.output)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "phase": self.phase.value,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "attempts": self.attempts,
            "changed": self.changed,
            "output": jsonable(self.output),
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class Journal:
    """Status is None while the run is in progress. `rollbacks_pending` is set when a run was
    interrupted before its rollbacks could run; the next daemon start runs them. `extensions`
    holds what the runner and the hooks add (steady-state results, stop-condition counts, the
    RTO/RPO assessment against the targets under `dr`)."""

    job_id: str
    runbook: str
    env: str
    started_at: datetime
    status: RunStatus | None = None
    deviated: bool = False
    ended_at: datetime | None = None
    steps: tuple[StepRecord, ...] = ()
    rollbacks: tuple[StepRecord, ...] = ()
    rollbacks_pending: bool = False
    error: str | None = None
    current: Mapping[str, Any] | None = None
    """The step in progress (name, phase, started_at): where an interrupted run stopped."""
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, job: Job) -> Journal:
        return cls(job_id=job.id, runbook=job.runbook, env=job.env, started_at=utcnow())

    def starting(self, name: str, phase: Phase) -> Journal:
        return replace(
            self, current={"name": name, "phase": phase.value, "started_at": utcnow().isoformat()}
        )

    def with_step(self, record: StepRecord) -> Journal:
        if record.phase is Phase.ROLLBACK:
            return replace(self, rollbacks=(*self.rollbacks, record), current=None)
        return replace(self, steps=(*self.steps, record), current=None)

    def step_views(self) -> dict[str, Any]:
        """`steps.<name>` for templates: every finished step and rollback on record, as a live
        run sees them (a resumed run renders its rollbacks from this)."""
        done = (s for s in (*self.steps, *self.rollbacks) if s.phase is not Phase.CHECK)
        return {record.name: record.template_view() for record in done}

    def finish(self, status: RunStatus, error: str | None = None) -> Journal:
        return replace(self, status=status, ended_at=utcnow(), error=error or self.error)

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: that deep-copies every output, on the hot path.
        return {
            "job_id": self.job_id,
            "runbook": self.runbook,
            "env": self.env,
            "started_at": self.started_at.isoformat(),
            "status": self.status.value if self.status else None,
            "deviated": self.deviated,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "steps": [s.to_dict() for s in self.steps],
            "rollbacks": [s.to_dict() for s in self.rollbacks],
            "rollbacks_pending": self.rollbacks_pending,
            "error": self.error,
            "current": jsonable(self.current),
            "extensions": jsonable(self.extensions),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Journal:
        return cls(
            job_id=raw["job_id"],
            runbook=raw["runbook"],
            env=raw["env"],
            started_at=datetime.fromisoformat(raw["started_at"]),
            status=RunStatus(raw["status"]) if raw.get("status") else None,
            deviated=bool(raw.get("deviated")),
            ended_at=_time(raw.get("ended_at")),
            steps=tuple(_step(s) for s in raw.get("steps", ())),
            rollbacks=tuple(_step(s) for s in raw.get("rollbacks", ())),
            rollbacks_pending=bool(raw.get("rollbacks_pending")),
            error=raw.get("error"),
            current=raw.get("current"),
            extensions=dict(raw.get("extensions") or {}),
        )


@dataclass(frozen=True, kw_only=True)
class Completion:
    """A job's end as the executor hands it to the store: its final status and journal."""

    job_id: str
    status: JobStatus
    journal: Journal


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _step(raw: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=raw["name"],
        action=raw["action"],
        phase=Phase(raw["phase"]),
        status=StepStatus(raw["status"]),
        started_at=datetime.fromisoformat(raw["started_at"]),
        ended_at=datetime.fromisoformat(raw["ended_at"]),
        attempts=int(raw.get("attempts", 1)),
        changed=bool(raw.get("changed")),
        output=dict(raw.get("output") or {}),
        error=raw.get("error"),
    )


def jsonable(value: Any) -> Any:
    """`value` as the stored journal holds it (times as ISO text, tuples as lists)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
