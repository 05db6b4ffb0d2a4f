"""Jobs: a runbook to run in an environment, created by a fired rule."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.core.events import utcnow


class JobStatus(StrEnum):
    """Life of a job: pending -> running -> completed | failed | aborted | interrupted, with
    awaiting-approval -> pending | rejected in front when the environment gates the runbook."""

    AWAITING_APPROVAL = "awaiting-approval"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def holds_lock(self) -> bool:
        """Whether a job in this status keeps its lock key from other jobs."""
        return not self.finished


FINISHED = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.ABORTED,
        JobStatus.INTERRUPTED,
        JobStatus.REJECTED,
    }
)


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True, kw_only=True)
class Job:
    """One run of a runbook. Keys are the rendered `dedup`, `cooldown` and `lock` keys of the
    rule that created it (None when the rule has none)."""

    runbook: str
    env: str
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_job_id)
    status: JobStatus = JobStatus.PENDING
    rule: str | None = None
    event_id: str | None = None
    dedup_key: str | None = None
    cooldown_key: str | None = None
    lock_key: str | None = None
    dry_run: bool = False
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str | None = None
    """The daemon (node id) that claimed the job, once it runs."""


@dataclass(frozen=True, kw_only=True)
class ScheduledRun:
    """What a configured schedule runs, as the rules decide it when it fires: the runbook, the
    environment and the parameters of the job, and how often."""

    schedule: str
    runbook: str
    env: str
    params: Mapping[str, Any]
    interval_seconds: float


@dataclass(frozen=True, kw_only=True)
class Approval:
    """A person's answer to a gated job (`fluxora-orch approve|reject`)."""

    job_id: str
    approved: bool
    by: str
    at: datetime = field(default_factory=utcnow)
    comment: str = ""
