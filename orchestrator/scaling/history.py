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
    func,
    select,
)

from orchestrator.scaling.decide import Direction
from orchestrator.store.base import Store

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


class History:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = store.metadata.tables[TABLE]

    def record(self, entry: Entry) -> None:
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
        }
        with self.store.transaction() as conn:
            conn.execute(self.table.insert().values(**row))

    def last_applied_at(self, group: str) -> datetime | None:
        t = self.table
        query = select(func.max(t.c.at)).where(
            t.c.group_name == group, t.c.result == Outcome.APPLIED.value
        )
        with self.store.transaction() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else datetime.fromtimestamp(value, UTC)

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
