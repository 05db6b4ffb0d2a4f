"""Every scaling decision per group, in the store (table `scaling_history`): the cooldown and
the last intent are read from here, so a daemon restart (or another daemon) keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError

from orchestrator.families.scaling.decide import Direction
from orchestrator.store.schema import FamilyTables

TABLE = "scaling_history"


class Outcome(StrEnum):
    """The `result` of a history row and of the actions metric."""

    APPLIED = "applied"
    SUPPRESSED = "suppressed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    PLANNED = "planned"
    """A dry run: returned, never recorded or counted."""


def define_tables(metadata: MetaData) -> None:
    Table(
        TABLE,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("group_name", String(255), nullable=False, index=True),
        Column("env", String(64), nullable=False),
        Column("at", Double, nullable=False),
        Column("direction", String(8), nullable=False),
        Column("current", Integer, nullable=False),
        Column("requested", Integer, nullable=False),
        Column("target", Integer, nullable=False),
        Column("result", String(16), nullable=False),
        Column("suppressed", String(32)),
        Column("reason", Text, nullable=False),
        Column("intent", Boolean, nullable=False),
        Column("job_id", String(64)),
        # The n-th applied action of a group: two daemons cannot both take the same n, so only
        # one of two concurrent requests decided on the same history acts (see Scaler).
        Column("generation", Integer),
        UniqueConstraint("group_name", "generation", name="scaling_history_one_action"),
    )


@dataclass(frozen=True, kw_only=True)
class Entry:
    group: str
    env: str
    at: datetime
    direction: Direction
    current: int
    requested: int
    target: int
    result: Outcome
    reason: str
    suppressed: str | None = None
    intent: bool = True
    """False for follow-up steps: they continue a scale-in, they do not ask for one."""
    job_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class LastAction:
    at: datetime
    generation: int
    job_id: str | None


class History:
    def __init__(self, tables: FamilyTables) -> None:
        self.store = tables
        self.table = tables.metadata.tables[TABLE]

    def record(self, entry: Entry, generation: int | None = None) -> int | None:
        """Insert `entry` and return its row id; with a `generation` (an applied action), None
        when another request already took that generation of the group."""
        row = {
            "group_name": entry.group,
            "env": entry.env,
            "at": entry.at.timestamp(),
            "direction": entry.direction.value,
            "current": entry.current,
            "requested": entry.requested,
            "target": entry.target,
            "result": entry.result.value,
            "suppressed": entry.suppressed,
            "reason": entry.reason,
            "intent": entry.intent,
            "job_id": entry.job_id,
            "generation": generation,
        }
        try:
            with self.store.transaction() as conn:
                inserted = conn.execute(self.table.insert().values(**row)).inserted_primary_key
        except IntegrityError:
            if generation is None:
                raise
            return None
        return int(inserted[0]) if inserted else None

    def mark_failed(self, row_id: int, reason: str) -> None:
        """An applied action whose AWS call failed: it frees its generation (no cooldown)."""
        t = self.table
        failed = {"result": Outcome.FAILED.value, "reason": reason, "generation": None}
        with self.store.transaction() as conn:
            conn.execute(t.update().where(t.c.id == row_id).values(**failed))

    def last_action(self, group: str) -> LastAction | None:
        """The group's newest applied action (the cooldown runs from it)."""
        t = self.table
        query = (
            select(t.c.at, t.c.generation, t.c.job_id)
            .where(t.c.group_name == group, t.c.generation.is_not(None))
            .order_by(t.c.generation.desc())
            .limit(1)
        )
        with self.store.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        at = datetime.fromtimestamp(row.at, UTC)
        return LastAction(at=at, generation=row.generation, job_id=row.job_id)

    def last_intent(self, group: str) -> Direction | None:
        """The direction of the newest scaling request of `group` that asked for a change."""
        t = self.table
        query = (
            select(t.c.direction)
            .where(t.c.group_name == group, t.c.intent, t.c.direction != Direction.NONE.value)
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
        )
        with self.store.transaction() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else Direction(value)

    def entries(self, group: str) -> list[Entry]:
        """Oldest first (for `explain`-style reading and tests)."""
        t = self.table
        query = select(t).where(t.c.group_name == group).order_by(t.c.at, t.c.id)
        with self.store.transaction() as conn:
            rows = conn.execute(query).mappings().all()
        return [_entry(row) for row in rows]


def _entry(data: RowMapping) -> Entry:
    return Entry(
        group=data["group_name"],
        env=data["env"],
        at=datetime.fromtimestamp(data["at"], UTC),
        direction=Direction(data["direction"]),
        current=data["current"],
        requested=data["requested"],
        target=data["target"],
        result=Outcome(data["result"]),
        reason=data["reason"],
        suppressed=data["suppressed"],
        intent=data["intent"],
        job_id=data["job_id"],
    )
