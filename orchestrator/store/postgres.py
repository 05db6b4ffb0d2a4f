"""The production store: PostgreSQL, shared by every daemon of an environment."""

from __future__ import annotations

import zlib

from sqlalchemy import Connection, MetaData, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from orchestrator.store.sql import SqlStore, UpsertInsert, dumps

# pg_advisory_xact_lock key that serialises rule decisions across daemons.
DECISIONS_LOCK = zlib.crc32(b"fluxora.decisions")


class PostgresStore(SqlStore):
    def __init__(self, url: str, metadata: MetaData) -> None:
        engine = create_engine(
            make_url(url).set(drivername="postgresql+psycopg"),
            json_serializer=dumps,
            pool_pre_ping=True,
            hide_parameters=True,  # an error's message must not carry event payloads
        )
        super().__init__(engine, metadata)

    def _insert(self, table: Table) -> UpsertInsert:
        return pg_insert(table)

    def _cannot_write(self, exc: DBAPIError) -> str | None:
        # 53100 disk_full, 58030 io_error ("could not extend file", "could not write").
        if getattr(exc.orig, "sqlstate", None) in {"53100", "58030"}:
            return str(exc.orig).splitlines()[0]
        return None

    def _serialize_decisions(self, conn: Connection) -> None:
        # Cooldown, dedup and lock checks need one consistent view; deciding is cheap, so
        # one daemon decides at a time and the others wait (job execution stays parallel).
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECISIONS_LOCK})
