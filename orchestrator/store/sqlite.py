"""The default store: one SQLite file in WAL mode, every commit fsynced (synchronous=FULL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from orchestrator.store.sql import SqlStore, UpsertInsert, dumps

BUSY_TIMEOUT_MS = 30_000


class SqliteStore(SqlStore):
    """Writers take the database lock at BEGIN (BEGIN IMMEDIATE), so a CLI approving a job
    while the daemon writes waits for its turn instead of failing a lock upgrade."""

    def __init__(self, path: Path, metadata: MetaData) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            json_serializer=dumps,
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, metadata)
        self.path = path

    def _insert(self, table: Table) -> UpsertInsert:
        return sqlite_insert(table)


def _on_connect(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
