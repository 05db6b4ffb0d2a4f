"""The store contract: inbox, decisions, jobs, journals, approvals, schedule runs and leases.

Every implementation passes `tests/integration/test_store_contract.py`. Methods are
synchronous and each is one transaction; the daemon calls them from one store thread
(`orchestrator.store.runner.StoreRunner`) and batches writes where the hot path needs it
(`add_events`, `save_journals`, `finish_jobs` take lists), so one commit covers many callers.

Designed for several daemons on one PostgreSQL store: `process_events` claims events with
`FOR UPDATE SKIP LOCKED` and serialises rule decisions (cooldown/dedup/lock checks need a
consistent view), `claim_jobs` hands each pending job to exactly one daemon, and
`acquire_lease` gives the schedule leader a lease with a fencing token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.core.decisions import Decide, Decision, Processed
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import EventRecord
from orchestrator.core.inbox import Admission, Signature, Submission
from orchestrator.core.jobs import Approval, Job, JobStatus
from orchestrator.core.journal import Completion, Journal


class StoreError(FluxoraError, RuntimeError):
    """The store cannot do what was asked; the message says what and why."""


class StoreUnwritableError(StoreError):
    """The store cannot write at all (disk full, I/O error): every write fails alike until
    space is freed; nothing about the request itself is wrong."""


class JobNotFoundError(StoreError, LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")


class JobStateError(StoreError):
    """A transition that the job's current status does not allow (approving a running job)."""

    def __init__(self, job_id: str, status: JobStatus, wanted: str) -> None:
        super().__init__(f"job {job_id} is {status}, cannot {wanted}")


@dataclass(frozen=True, kw_only=True)
class ScheduleRun:
    schedule: str
    scheduled_at: datetime
    fired: bool  # False: a missed run
    event_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Lease:
    name: str
    holder: str
    token: int  # the fencing token: strictly increases each time the lease changes holder
    expires_at: datetime


class Store(ABC):
    """The one store interface; see the module docstring. It names no database library's
    types: families' own tables are reached through `schema.FamilyTables`."""

    # --- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def migrate(self) -> None:
        """Create missing tables (core and every family's)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, without any password (for logs and `validate`)."""

    def batch(self) -> AbstractContextManager[Any]:
        """Group commit: every call made on this thread inside the block joins one
        transaction, committed (once) at its end. Stores without it commit call by call."""
        return nullcontext()

    @abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """Inside `batch()`: a block whose writes are undone alone if it raises (the rest of
        the batch still commits)."""

    def housekeeping(self) -> AbstractContextManager[Any]:
        """What a long-running writer (the daemon) runs in the background while inside the
        block, off its commits' path; nothing for stores that need none."""
        return nullcontext()

    # --- inbox --------------------------------------------------------------------------
    @abstractmethod
    def add_events(self, submissions: Sequence[Submission]) -> list[Admission]:
        """Commit new events (durably) in one transaction; one Admission per submission.
        A submission's signature is recorded with it (`REPLAYED` when it was used before); an
        id committed before is `DUPLICATE` with the same tag, source and data, else `CONFLICT`."""

    @abstractmethod
    def unprocessed_count(self) -> int: ...

    @abstractmethod
    def process_events(self, limit: int, decide: Decide) -> list[Processed]:
        """Claim up to `limit` unprocessed events (oldest first), call `decide` for each, and
        record the decisions, the jobs and the processed mark in the same transaction."""

    @abstractmethod
    def get_event(self, event_id: str) -> EventRecord | None: ...

    @abstractmethod
    def list_events(self, *, limit: int = 50, tag: str | None = None) -> list[EventRecord]:
        """Newest first; `tag` is a glob."""

    @abstractmethod
    def decisions_for(self, event_id: str) -> list[Decision]: ...

    @abstractmethod
    def probe_write(self, size: int) -> None:
        """A committed write of about `size` bytes, undone in the same transaction:
        `StoreUnwritableError` while the store cannot write that much."""

    @abstractmethod
    def use_signature(self, signature: Signature) -> bool:
        """Record a signed request's signature (a request that is not an event: an abort);
        False when it was recorded before (a replay)."""

    @abstractmethod
    def forget_signatures(self, before: datetime) -> int:
        """Drop the signatures signed for a time before `before` (now minus the replay window:
        they can no longer be accepted); return how many."""

    # --- jobs ---------------------------------------------------------------------------
    @abstractmethod
    def add_job(self, job: Job) -> Job:
        """A job not created by a rule (a copy awaiting approval: the scaling approval step)."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def list_jobs(
        self, *, limit: int = 50, status: JobStatus | None = None, runbook: str | None = None
    ) -> list[Job]:
        """Newest first."""

    @abstractmethod
    def lock_holder(self, lock_key: str) -> Job | None:
        """The job holding `lock_key` (pending, awaiting approval or running), if any; for
        actions that must respect a lock they do not take (scaling vs. `dr/<env>`)."""

    @abstractmethod
    def claim_jobs(
        self, owner: str, limit: int, only: str | None = None
    ) -> list[tuple[Job, Journal]]:
        """Move up to `limit` pending jobs (`only` that one) to running for `owner`, each
        exactly once across daemons, and start their journals; return them oldest first."""

    @abstractmethod
    def save_journals(self, journals: Sequence[Journal]) -> None: ...

    @abstractmethod
    def get_journal(self, job_id: str) -> Journal | None: ...

    @abstractmethod
    def finish_jobs(self, completions: Sequence[Completion]) -> list[Job]:
        """Set each job's final status and journal in one transaction."""

    @abstractmethod
    def interrupt_running(self, owner: str) -> list[tuple[Job, Journal]]:
        """Mark `owner`'s running jobs interrupted (journal status interrupted, rollbacks
        pending); used at start after a crash and at the end of the shutdown grace."""

    @abstractmethod
    def pending_rollbacks(self) -> list[tuple[Job, Journal]]:
        """Interrupted jobs whose rollbacks have not run yet."""

    @abstractmethod
    def decide_approval(self, approval: Approval) -> Job:
        """awaiting-approval -> pending (approved) or rejected, with who and when;
        JobNotFoundError / JobStateError otherwise."""

    @abstractmethod
    def get_approval(self, job_id: str) -> Approval | None: ...

    @abstractmethod
    def count_jobs(self, status: JobStatus) -> dict[tuple[str, str], int]:
        """Jobs in `status` by (runbook, env)."""

    # --- schedules and leadership --------------------------------------------------------
    @abstractmethod
    def record_schedule_runs(self, runs: Sequence[ScheduleRun]) -> list[ScheduleRun]:
        """Record fired and missed runs; a (schedule, scheduled_at) seen before is ignored.
        Return the runs that were new."""

    @abstractmethod
    def last_schedule_run(self, schedule: str) -> ScheduleRun | None: ...

    @abstractmethod
    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        """Take or renew lease `name` for `holder`; None while another holder's is valid."""

    @abstractmethod
    def release_lease(self, lease: Lease) -> None: ...

    # --- extension ----------------------------------------------------------------------
    @abstractmethod
    def iter_family_tables(self) -> Iterator[str]:
        """Names of tables that action families added."""
