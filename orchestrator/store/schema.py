"""Tables of the store (SQLAlchemy Core, the same for SQLite and PostgreSQL).

Times are float seconds since the epoch (UTC): one representation on both databases, cheap to
compare. Action families add their own tables with `define_tables(metadata)` in their module
(see `orchestrator.app.families.family_tables`); `build_metadata` collects them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

ACTIVE_STATUSES = "('awaiting-approval', 'pending', 'running')"

TableDefiner = Callable[[MetaData], None]


CORE_TABLES = frozenset(
    {
        "events",
        "webhook_signatures",
        "decisions",
        "jobs",
        "journals",
        "approvals",
        "schedule_runs",
        "leases",
    }
)


class FamilyTables(Protocol):
    """A family's way to its own tables, in the store's database (SQLAlchemy Core): the
    tables it defined with its `define_tables`, and transactions to read and write them."""

    @property
    def metadata(self) -> MetaData: ...

    def transaction(self) -> AbstractContextManager[Connection]: ...


def define_core_tables(metadata: MetaData) -> None:
    Table(
        "events",
        metadata,
        Column("id", String(128), primary_key=True),
        Column("tag", String(512), nullable=False),
        Column("source", String(32), nullable=False),
        Column("data", JSON, nullable=False),
        Column("received_at", Double, nullable=False),
        Column("processed_at", Double),
        Index(
            "events_unprocessed",
            "received_at",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        Index("events_received", "received_at"),
    )
    Table(
        "webhook_signatures",
        metadata,
        Column("signature", String(128), primary_key=True),
        Column("seen_at", Double, nullable=False, index=True),
    )
    Table(
        "decisions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(128), nullable=False, index=True),
        Column("rule", String(200), nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("reason", Text, nullable=False),
        Column("job_id", String(32)),
        Column("decided_at", Double, nullable=False),
    )
    _define_job_tables(metadata)
    Table(
        "schedule_runs",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("schedule", String(200), nullable=False),
        Column("scheduled_at", Double, nullable=False),
        Column("fired", Boolean, nullable=False),
        Column("event_id", String(128)),
        Column("recorded_at", Double, nullable=False),
        UniqueConstraint("schedule", "scheduled_at", name="schedule_runs_once"),
    )
    Table(
        "leases",
        metadata,
        Column("name", String(200), primary_key=True),
        Column("holder", String(200), nullable=False),
        Column("token", Integer, nullable=False),
        Column("expires_at", Double, nullable=False),
    )


def _define_job_tables(metadata: MetaData) -> None:
    Table(
        "jobs",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("runbook", String(200), nullable=False),
        Column("env", String(64), nullable=False),
        Column("params", JSON, nullable=False),
        Column("status", String(32), nullable=False),
        Column("rule", String(200)),
        Column("event_id", String(128)),
        Column("dedup_key", Text),
        Column("cooldown_key", Text),
        Column("lock_key", Text),
        Column("dry_run", Boolean, nullable=False, default=False),
        Column("created_at", Double, nullable=False),
        Column("started_at", Double),
        Column("finished_at", Double),
        Column("owner", String(200)),
        Index("jobs_status", "status", "created_at"),
        Index("jobs_rule", "rule", "created_at"),
        # One job per lock key at a time, enforced by the database across daemons too.
        Index(
            "jobs_one_per_lock",
            "lock_key",
            unique=True,
            sqlite_where=text(f"lock_key IS NOT NULL AND status IN {ACTIVE_STATUSES}"),
            postgresql_where=text(f"lock_key IS NOT NULL AND status IN {ACTIVE_STATUSES}"),
        ),
    )
    Table(
        "journals",
        metadata,
        Column("job_id", String(32), primary_key=True),
        Column("body", JSON, nullable=False),
        Column("rollbacks_pending", Boolean, nullable=False, default=False),
        Column("updated_at", Double, nullable=False),
    )
    Table(
        "approvals",
        metadata,
        Column("job_id", String(32), primary_key=True),
        Column("approved", Boolean, nullable=False),
        Column("by", String(200), nullable=False),
        Column("at", Double, nullable=False),
        Column("comment", Text, nullable=False, default=""),
    )


def build_metadata(family_definers: Iterable[TableDefiner] = ()) -> MetaData:
    """The core tables plus each family's; a family table clashing with another is an error
    from SQLAlchemy naming the table."""
    metadata = MetaData()
    define_core_tables(metadata)
    for define in family_definers:
        define(metadata)
    return metadata
