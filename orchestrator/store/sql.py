"""The store on SQLAlchemy Core; `SqliteStore` and `PostgresStore` add their dialect's parts.

Claims use `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises writers with
`BEGIN IMMEDIATE`, where the clause is not rendered), so several daemons can share one
PostgreSQL store and still run each job exactly once.
"""

from __future__ import annotations

import fnmatch
import json
import math
import threading
import uuid
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    RowMapping,
    Table,
    and_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from orchestrator.core.decisions import Decide, Decision, DecisionView, Outcome, Processed
from orchestrator.core.events import Event, EventRecord, EventSource, utcnow
from orchestrator.core.inbox import Admission, Signature, Submission
from orchestrator.core.jobs import Approval, Job, JobStatus
from orchestrator.core.journal import Completion, Journal, RunStatus
from orchestrator.store.base import (
    JobNotFoundError,
    JobStateError,
    Lease,
    ScheduleRun,
    Store,
    StoreError,
    StoreUnwritableError,
)
from orchestrator.store.schema import CORE_TABLES

UpsertInsert = sqlite.Insert | postgresql.Insert
ACTIVE = (JobStatus.AWAITING_APPROVAL, JobStatus.PENDING, JobStatus.RUNNING)


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dumps(value: Any) -> str:
    """JSON for the store: anything an action returns that JSON lacks becomes its str(),
    NaN and infinities included (PostgreSQL's jsonb has no such values, and the API serves
    standard JSON)."""
    try:
        return json.dumps(value, default=str, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), default=str, separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        runbook=row["runbook"],
        env=row["env"],
        params=row["params"],
        status=JobStatus(row["status"]),
        rule=row["rule"],
        event_id=row["event_id"],
        dedup_key=row["dedup_key"],
        cooldown_key=row["cooldown_key"],
        lock_key=row["lock_key"],
        dry_run=bool(row["dry_run"]),
        created_at=dt(row["created_at"]) or utcnow(),
        started_at=dt(row["started_at"]),
        finished_at=dt(row["finished_at"]),
        owner=row["owner"],
    )


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "runbook": job.runbook,
        "env": job.env,
        "params": dict(job.params),
        "status": job.status.value,
        "rule": job.rule,
        "event_id": job.event_id,
        "dedup_key": job.dedup_key,
        "cooldown_key": job.cooldown_key,
        "lock_key": job.lock_key,
        "dry_run": job.dry_run,
        "created_at": ts(job.created_at),
        "started_at": ts(job.started_at) if job.started_at else None,
        "finished_at": ts(job.finished_at) if job.finished_at else None,
        "owner": job.owner,
    }


def _event(row: RowMapping) -> Event:
    return Event(
        id=row["id"],
        tag=row["tag"],
        source=EventSource(row["source"]),
        data=row["data"],
        received_at=dt(row["received_at"]) or utcnow(),
    )


def _signature_row(signature: Signature) -> dict[str, Any]:
    # `seen_at` holds the time the request was signed for: the signature is forgotten once
    # that time is a whole replay window old, when no clock skew can make it acceptable again.
    return {"signature": signature.value, "seen_at": ts(signature.signed_at)}


def _repeat(stored: dict[str, Any], event: Event) -> Admission:
    """An id seen before: the same event again (a retry), or another event under its id."""
    same = (stored["tag"], stored["source"], stored["data"]) == (
        event.tag,
        event.source.value,
        json.loads(dumps(dict(event.data))),
    )
    return Admission.DUPLICATE if same else Admission.CONFLICT


def _decision(row: RowMapping) -> Decision:
    return Decision(
        event_id=row["event_id"],
        rule=row["rule"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        job_id=row["job_id"],
        decided_at=dt(row["decided_at"]) or utcnow(),
    )


class _View(DecisionView):
    """Reads inside the deciding transaction, plus the jobs this batch created so far (they
    are inserted together at the end of the batch)."""

    def __init__(self, conn: Connection, jobs: Table) -> None:
        self._conn = conn
        self._jobs = jobs
        self.created: list[Job] = []

    def last_job(
        self,
        *,
        rule: str,
        since: datetime,
        dedup_key: str | None = None,
        cooldown_key: str | None = None,
    ) -> Job | None:
        jobs = self._jobs
        query = select(jobs).where(jobs.c.rule == rule, jobs.c.created_at >= ts(since))
        if dedup_key is not None:
            query = query.where(jobs.c.dedup_key == dedup_key)
        if cooldown_key is not None:
            query = query.where(jobs.c.cooldown_key == cooldown_key)
        mine = [
            job
            for job in self.created
            if job.rule == rule
            and job.created_at >= since
            and (dedup_key is None or job.dedup_key == dedup_key)
            and (cooldown_key is None or job.cooldown_key == cooldown_key)
        ]
        if mine:
            return mine[-1]
        row = self._conn.execute(query.order_by(jobs.c.created_at.desc()).limit(1)).first()
        return _job(row._mapping) if row else None

    def lock_holder(self, lock_key: str) -> Job | None:
        for job in reversed(self.created):
            if job.lock_key == lock_key:
                return job
        jobs = self._jobs
        active = [s.value for s in ACTIVE]
        query = select(jobs).where(jobs.c.lock_key == lock_key, jobs.c.status.in_(active))
        row = self._conn.execute(query.limit(1)).first()
        return _job(row._mapping) if row else None


class SqlStore(Store):
    """Everything both databases share; subclasses give the engine and dialect parts. It is
    also the families' `FamilyTables`."""

    def __init__(self, engine: Engine, metadata: MetaData) -> None:
        self.engine = engine
        self.metadata = metadata
        self.t = metadata.tables
        self._local = threading.local()  # the connection of this thread's open batch, if any

    # --- dialect parts --------------------------------------------------------------------
    @abstractmethod
    def _insert(self, table: Table) -> UpsertInsert:
        """An INSERT that supports on_conflict_do_nothing / on_conflict_do_update."""

    def _serialize_decisions(self, conn: Connection) -> None:
        """Hold a lock that serialises rule decisions across daemons (none needed by SQLite,
        whose writers are serialised already)."""
        return

    # --- lifecycle ------------------------------------------------------------------------
    def migrate(self) -> None:
        try:
            self.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot prepare the store at {self.describe()}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @abstractmethod
    def _cannot_write(self, exc: DBAPIError) -> str | None:
        """Why the database cannot write at all (disk full, I/O error), or None."""

    @contextmanager
    def _writes(self) -> Iterator[None]:
        """Turn "cannot write at all" into `StoreUnwritableError` (statements and commits)."""
        try:
            yield
        except DBAPIError as exc:
            reason = self._cannot_write(exc)
            if reason is None:
                raise
            raise StoreUnwritableError(
                f"the store at {self.describe()} cannot write: {reason}"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; inside `batch()`, the batch's (committed with it)."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._writes(), self.engine.begin() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    def batch(self) -> AbstractContextManager[Any]:
        return self.transaction()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.transaction() as conn, self._writes(), conn.begin_nested():
            yield

    def probe_write(self, size: int) -> None:
        events = self.t["events"]
        probe = Event(
            tag="fluxora/probe",
            source=EventSource.SCHEDULE,
            id=f"probe:{uuid.uuid4().hex}",
            data={"fill": "x" * size},
        )
        with self.transaction() as conn:  # never committed with the row: nobody sees it
            conn.execute(events.insert().values({**self._event_row(probe), "processed_at": 0.0}))
            conn.execute(events.delete().where(events.c.id == probe.id))

    def iter_family_tables(self) -> Iterator[str]:
        return (name for name in self.metadata.tables if name not in CORE_TABLES)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """Reads join the thread's open batch (they must see its writes, and SQLite would
        otherwise wait for the batch's own write lock); else they use a connection of their own."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self.engine.connect() as conn:
            yield conn

    # --- inbox ----------------------------------------------------------------------------
    def add_events(self, submissions: Sequence[Submission]) -> list[Admission]:
        events, signatures = self.t["events"], self.t["webhook_signatures"]
        admissions: list[Admission] = []
        with self.transaction() as conn:
            used = self._existing(
                conn,
                signatures.c.signature,
                [s.signature.value for s in submissions if s.signature],
            )
            seen = self._stored_events(conn, [s.event.id for s in submissions])
            new_events, new_signatures = [], []
            for sub in submissions:
                if sub.signature is not None:
                    if sub.signature.value in used:
                        admissions.append(Admission.REPLAYED)
                        continue
                    used.add(sub.signature.value)
                    new_signatures.append(_signature_row(sub.signature))
                if sub.event.id in seen:
                    admissions.append(_repeat(seen[sub.event.id], sub.event))
                    continue
                row = self._event_row(sub.event)
                seen[sub.event.id] = {**row, "data": json.loads(dumps(row["data"]))}
                new_events.append(row)
                admissions.append(Admission.ACCEPTED)
            # A concurrent daemon may commit the same id or signature between the SELECT and
            # here (PostgreSQL); DO NOTHING keeps the first, and the event is processed once.
            for table, rows in ((signatures, new_signatures), (events, new_events)):
                if rows:
                    conn.execute(self._insert(table).on_conflict_do_nothing(), rows)
        return admissions

    def _stored_events(self, conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        events = self.t["events"]
        query = select(events.c.id, events.c.tag, events.c.source, events.c.data)
        rows = conn.execute(query.where(events.c.id.in_(set(ids)))).all()
        return {row.id: dict(row._mapping) for row in rows}

    def use_signature(self, signature: Signature) -> bool:
        signatures = self.t["webhook_signatures"]
        with self.transaction() as conn:
            if self._existing(conn, signatures.c.signature, [signature.value]):
                return False
            insert = self._insert(signatures).on_conflict_do_nothing()
            return bool(conn.execute(insert, [_signature_row(signature)]).rowcount)

    @staticmethod
    def _existing(conn: Connection, column: Any, values: Sequence[str | None]) -> set[str]:
        wanted = {v for v in values if v is not None}
        if not wanted:
            return set()
        return set(conn.execute(select(column).where(column.in_(wanted))).scalars())

    @staticmethod
    def _event_row(event: Event) -> dict[str, Any]:
        return {
            "id": event.id,
            "tag": event.tag,
            "source": event.source.value,
            "data": dict(event.data),
            "received_at": ts(event.received_at),
            "processed_at": None,
        }

    def unprocessed_count(self) -> int:
        events = self.t["events"]
        with self._reading() as conn:
            query = select(func.count()).where(events.c.processed_at.is_(None))
            return int(conn.execute(query).scalar_one())

    def process_events(self, limit: int, decide: Decide) -> list[Processed]:
        events = self.t["events"]
        with self.transaction() as conn:
            self._serialize_decisions(conn)
            query = (
                select(events)
                .where(events.c.processed_at.is_(None))
                .order_by(events.c.received_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            batch = [_event(row._mapping) for row in conn.execute(query)]
            if not batch:
                return []
            view = _View(conn, self.t["jobs"])
            processed = [_decide_one(event, view, decide) for event in batch]
            self._record(conn, processed)
            done = update(events).where(events.c.id.in_([e.id for e in batch]))
            conn.execute(done.values(processed_at=ts(utcnow())))
        return processed

    def _record(self, conn: Connection, processed: Sequence[Processed]) -> None:
        # The view already saw each new job (it keeps the batch's own), so one INSERT each.
        jobs = [_job_row(job) for p in processed for job in p.jobs]
        if jobs:
            conn.execute(self.t["jobs"].insert(), jobs)
        decisions = [_decision_row(d) for p in processed for d in p.decisions]
        if decisions:
            conn.execute(self.t["decisions"].insert(), decisions)

    def get_event(self, event_id: str) -> EventRecord | None:
        events = self.t["events"]
        with self._reading() as conn:
            row = conn.execute(select(events).where(events.c.id == event_id)).first()
        if row is None:
            return None
        return EventRecord(event=_event(row._mapping), processed_at=dt(row.processed_at))

    def list_events(self, *, limit: int = 50, tag: str | None = None) -> list[EventRecord]:
        events = self.t["events"]
        query = select(events).order_by(events.c.received_at.desc())
        if tag is not None:
            # Globs become LIKE patterns; fnmatch re-checks the page for `?` and `[...]`.
            query = query.where(events.c.tag.like(_like(tag), escape="\\"))
        with self._reading() as conn:
            rows = conn.execute(query.limit(limit)).all()
        records = [
            EventRecord(event=_event(r._mapping), processed_at=dt(r.processed_at)) for r in rows
        ]
        if tag is None:
            return records
        return [r for r in records if fnmatch.fnmatchcase(r.event.tag, tag)]

    def decisions_for(self, event_id: str) -> list[Decision]:
        decisions = self.t["decisions"]
        query = select(decisions).where(decisions.c.event_id == event_id)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(decisions.c.id)).all()
        return [_decision(r._mapping) for r in rows]

    def forget_signatures(self, before: datetime) -> int:
        signatures = self.t["webhook_signatures"]
        with self.transaction() as conn:
            old = signatures.delete().where(signatures.c.seen_at < ts(before))
            return int(conn.execute(old).rowcount)

    # --- jobs -----------------------------------------------------------------------------
    def add_job(self, job: Job) -> Job:
        with self.transaction() as conn:
            conn.execute(self.t["jobs"].insert().values(_job_row(job)))
        return job

    def get_job(self, job_id: str) -> Job | None:
        jobs = self.t["jobs"]
        with self._reading() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _job(row._mapping) if row else None

    def lock_holder(self, lock_key: str) -> Job | None:
        with self._reading() as conn:
            return _View(conn, self.t["jobs"]).lock_holder(lock_key)

    def list_jobs(
        self, *, limit: int = 50, status: JobStatus | None = None, runbook: str | None = None
    ) -> list[Job]:
        jobs = self.t["jobs"]
        query = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if runbook is not None:
            query = query.where(jobs.c.runbook == runbook)
        with self._reading() as conn:
            return [_job(r._mapping) for r in conn.execute(query)]

    def claim_jobs(
        self, owner: str, limit: int, only: str | None = None
    ) -> list[tuple[Job, Journal]]:
        jobs = self.t["jobs"]
        now = utcnow()
        pending = (
            select(jobs.c.id)
            .where(jobs.c.status == JobStatus.PENDING.value)
            .order_by(jobs.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if only is not None:
            pending = pending.where(jobs.c.id == only)
        with self.transaction() as conn:
            ids = list(conn.execute(pending).scalars())
            if not ids:
                return []
            claim = (
                update(jobs)
                .where(jobs.c.id.in_(ids), jobs.c.status == JobStatus.PENDING.value)
                .values(status=JobStatus.RUNNING.value, owner=owner, started_at=ts(now))
                .returning(*jobs.c)
            )
            claimed = sorted((_job(r._mapping) for r in conn.execute(claim)), key=_created)
            journals = [Journal.start(job) for job in claimed]
            # A pending job has no journal yet: a plain INSERT of them all at once.
            conn.execute(self.t["journals"].insert(), [self._journal_row(j) for j in journals])
        return list(zip(claimed, journals, strict=True))

    def _update_journals(self, conn: Connection, journals: Sequence[Journal]) -> None:
        """Every running or finished job has its journal row since its claim: UPDATE them."""
        if not journals:
            return
        table = self.t["journals"]
        statement = (
            update(table)
            .where(table.c.job_id == bindparam("key"))
            .values(
                body=bindparam("body"),
                rollbacks_pending=bindparam("rollbacks_pending"),
                updated_at=bindparam("updated_at"),
            )
        )
        rows = [{"key": j.job_id, **self._journal_row(j)} for j in journals]
        for row in rows:
            del row["job_id"]
        conn.execute(statement, rows)

    @staticmethod
    def _journal_row(journal: Journal) -> dict[str, Any]:
        return {
            "job_id": journal.job_id,
            "body": journal.to_dict(),
            "rollbacks_pending": journal.rollbacks_pending,
            "updated_at": ts(utcnow()),
        }

    def save_journals(self, journals: Sequence[Journal]) -> None:
        if journals:
            with self.transaction() as conn:
                self._update_journals(conn, journals)

    def get_journal(self, job_id: str) -> Journal | None:
        table = self.t["journals"]
        with self._reading() as conn:
            row = conn.execute(select(table.c.body).where(table.c.job_id == job_id)).first()
        return Journal.from_dict(row.body) if row else None

    def finish_jobs(self, completions: Sequence[Completion]) -> list[Job]:
        jobs = self.t["jobs"]
        finished_at = ts(utcnow())
        if not completions:
            return []
        by_status: dict[JobStatus, list[str]] = {}
        for completion in completions:
            by_status.setdefault(completion.status, []).append(completion.job_id)
        by_id: dict[str, Job] = {}
        with self.transaction() as conn:
            # One UPDATE ... RETURNING per status (a batch nearly always has one).
            for status, ids in by_status.items():
                finish = (
                    update(jobs)
                    .where(jobs.c.id.in_(ids))
                    .values(status=status.value, finished_at=finished_at)
                    .returning(*jobs.c)
                )
                by_id.update((r.id, _job(r._mapping)) for r in conn.execute(finish))
            self._update_journals(conn, [c.journal for c in completions])
        return [by_id[c.job_id] for c in completions if c.job_id in by_id]

    def interrupt_running(self, owner: str) -> list[tuple[Job, Journal]]:
        jobs, journals = self.t["jobs"], self.t["journals"]
        query = (
            select(jobs, journals.c.body)
            .outerjoin(journals, journals.c.job_id == jobs.c.id)
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.owner == owner)
            .with_for_update(of=jobs, skip_locked=True)
        )
        interrupted: list[tuple[Job, Journal]] = []
        with self.transaction() as conn:
            for row in conn.execute(query).all():
                job = _job(row._mapping)
                journal = Journal.from_dict(row.body) if row.body else Journal.start(job)
                journal = replace(
                    journal.finish(RunStatus.INTERRUPTED, _interrupted_at(journal)),
                    rollbacks_pending=True,
                )
                interrupted.append((replace(job, status=JobStatus.INTERRUPTED), journal))
            self._mark_interrupted(conn, interrupted)
        return interrupted

    def _mark_interrupted(self, conn: Connection, pairs: Sequence[tuple[Job, Journal]]) -> None:
        jobs = self.t["jobs"]
        for job, _ in pairs:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(status=JobStatus.INTERRUPTED.value, finished_at=ts(utcnow()))
            )
        self._update_journals(conn, [journal for _, journal in pairs])

    def pending_rollbacks(self) -> list[tuple[Job, Journal]]:
        jobs, journals = self.t["jobs"], self.t["journals"]
        query = (
            select(jobs, journals.c.body)
            .join(journals, journals.c.job_id == jobs.c.id)
            .where(journals.c.rollbacks_pending.is_(True))
            .order_by(jobs.c.created_at)
        )
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [(_job(r._mapping), Journal.from_dict(r.body)) for r in rows]

    def decide_approval(self, approval: Approval) -> Job:
        jobs = self.t["jobs"]
        with self.transaction() as conn:
            row = conn.execute(
                select(jobs).where(jobs.c.id == approval.job_id).with_for_update()
            ).first()
            if row is None:
                raise JobNotFoundError(approval.job_id)
            job = _job(row._mapping)
            if job.status is not JobStatus.AWAITING_APPROVAL:
                raise JobStateError(
                    job.id, job.status, "approve" if approval.approved else "reject"
                )
            values: dict[str, Any] = {"status": JobStatus.PENDING.value}
            if not approval.approved:
                values = {"status": JobStatus.REJECTED.value, "finished_at": ts(approval.at)}
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(values))
            conn.execute(
                self.t["approvals"]
                .insert()
                .values(
                    job_id=job.id,
                    approved=approval.approved,
                    by=approval.by,
                    at=ts(approval.at),
                    comment=approval.comment,
                )
            )
            row = conn.execute(select(jobs).where(jobs.c.id == job.id)).one()
        return _job(row._mapping)

    def get_approval(self, job_id: str) -> Approval | None:
        table = self.t["approvals"]
        with self._reading() as conn:
            row = conn.execute(select(table).where(table.c.job_id == job_id)).first()
        if row is None:
            return None
        return Approval(
            job_id=row.job_id,
            approved=bool(row.approved),
            by=row.by,
            at=dt(row.at) or utcnow(),
            comment=row.comment,
        )

    def count_jobs(self, status: JobStatus) -> dict[tuple[str, str], int]:
        jobs = self.t["jobs"]
        query = (
            select(jobs.c.runbook, jobs.c.env, func.count())
            .where(jobs.c.status == status.value)
            .group_by(jobs.c.runbook, jobs.c.env)
        )
        with self._reading() as conn:
            return {(r[0], r[1]): int(r[2]) for r in conn.execute(query)}

    # --- schedules and leadership -----------------------------------------------------------
    def record_schedule_runs(self, runs: Sequence[ScheduleRun]) -> list[ScheduleRun]:
        table = self.t["schedule_runs"]
        new: list[ScheduleRun] = []
        with self.transaction() as conn:
            for run in runs:
                row = {
                    "schedule": run.schedule,
                    "scheduled_at": ts(run.scheduled_at),
                    "fired": run.fired,
                    "event_id": run.event_id,
                    "recorded_at": ts(utcnow()),
                }
                # RETURNING, not rowcount: PostgreSQL reports the implicit RETURNING's rowcount.
                insert = self._insert(table).values(row).on_conflict_do_nothing()
                if conn.execute(insert.returning(table.c.id)).first() is not None:
                    new.append(run)
        return new

    def last_schedule_run(self, schedule: str) -> ScheduleRun | None:
        table = self.t["schedule_runs"]
        query = (
            select(table)
            .where(table.c.schedule == schedule)
            .order_by(table.c.scheduled_at.desc())
            .limit(1)
        )
        with self._reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ScheduleRun(
            schedule=row.schedule,
            scheduled_at=dt(row.scheduled_at) or utcnow(),
            fired=bool(row.fired),
            event_id=row.event_id,
        )

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        leases = self.t["leases"]
        now = ts(utcnow())
        expires = now + ttl_seconds
        with self.transaction() as conn:
            row = conn.execute(
                select(leases).where(leases.c.name == name).with_for_update()
            ).first()
            if row is None:
                first = {"name": name, "holder": holder, "token": 1, "expires_at": expires}
                insert = self._insert(leases).values(first).on_conflict_do_nothing()
                if conn.execute(insert.returning(leases.c.name)).first() is None:
                    return None  # another daemon created it in the meantime
                token = 1
            elif row.holder == holder or row.expires_at <= now:
                token = row.token if row.holder == holder else row.token + 1
                conn.execute(
                    update(leases)
                    .where(and_(leases.c.name == name, leases.c.token == row.token))
                    .values(holder=holder, token=token, expires_at=expires)
                )
            else:
                return None
        return Lease(name=name, holder=holder, token=token, expires_at=dt(expires) or utcnow())

    def release_lease(self, lease: Lease) -> None:
        leases = self.t["leases"]
        with self.transaction() as conn:
            conn.execute(
                update(leases)
                .where(
                    leases.c.name == lease.name,
                    leases.c.holder == lease.holder,
                    leases.c.token == lease.token,
                )
                .values(expires_at=0.0)
            )


def _decide_one(event: Event, view: _View, decide: Decide) -> Processed:
    decided_at = utcnow()
    decisions, jobs = [], []
    for proposal in decide(event, view):
        if proposal.job is not None:
            jobs.append(proposal.job)
            view.created.append(proposal.job)
        decisions.append(
            Decision(
                event_id=event.id,
                rule=proposal.rule,
                outcome=proposal.outcome,
                reason=proposal.reason,
                job_id=proposal.job.id if proposal.job else None,
                decided_at=decided_at,
            )
        )
    return Processed(event=event, decisions=tuple(decisions), jobs=tuple(jobs))


def _decision_row(decision: Decision) -> dict[str, Any]:
    return {
        "event_id": decision.event_id,
        "rule": decision.rule,
        "outcome": decision.outcome.value,
        "reason": decision.reason,
        "job_id": decision.job_id,
        "decided_at": ts(decision.decided_at),
    }


def _interrupted_at(journal: Journal) -> str:
    if journal.current:
        step = journal.current
        return f"the daemon stopped during {step['phase']} {step['name']!r} ({step['started_at']})"
    return "the daemon stopped during the run"


def _created(job: Job) -> datetime:
    return job.created_at


def _like(glob: str) -> str:
    escaped = glob.replace("%", r"\%").replace("_", r"\_")
    return escaped.replace("*", "%").replace("?", "_").split("[", 1)[0] + (
        "%" if "[" in glob else ""
    )
