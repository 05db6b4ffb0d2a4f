"""What backups read from a database: the per-table statistics (row count and an
order-independent content checksum) that a manifest records and a restore is checked against,
the server's facts, and the exported snapshot pg_dump shares."""

from __future__ import annotations

import queue
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from orchestrator.families.backup.manifest import ChecksumMethod, TableEntry
from orchestrator.families.postgres.client import ServerConfig, connect

_STATS_SETTINGS = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)
# Value hashes are only used for types whose hash survives a dump and restore unchanged
# (an enum or an oid hashes its OID, which a restore renumbers); other tables hash text.
_VALUE_HASHED_TYPES = (
    "smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean", "text",
    "character varying", "character", "date", "time without time zone",
    "timestamp without time zone", "timestamp with time zone", "interval", "uuid", "bytea",
    "jsonb", "inet", "cidr", "macaddr",
)  # fmt: skip
_USER_TABLES = """
    SELECT n.nspname, c.relname,
           coalesce((SELECT bool_and(format_type(CASE WHEN ty.typcategory = 'A' THEN ty.typelem
                                                      WHEN ty.typtype = 'd' THEN ty.typbasetype
                                                      ELSE ty.oid END, NULL) = ANY(%s))
                     FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), true)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype = 'e')
    ORDER BY pg_relation_size(c.oid) DESC, 1, 2
"""


def pin_text_settings(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    for statement in _STATS_SETTINGS:
        conn.execute(statement)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    method: ChecksumMethod  # the fastest one its column types allow

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def user_tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[Table]:
    """Every user table, largest first."""
    rows = conn.execute(_USER_TABLES.encode(), [list(_VALUE_HASHED_TYPES)]).fetchall()
    return [
        Table(str(schema), str(name), ChecksumMethod.RECORD if hashable else ChecksumMethod.TEXT)
        for schema, name, hashable in rows
    ]


_ROW_HASH = {
    ChecksumMethod.RECORD: "hash_record_extended(t, 0)",
    ChecksumMethod.TEXT: "hashtextextended(t::text, 0)",
}


def table_stat(
    conn: psycopg.Connection[tuple[object, ...]], table: Table, method: ChecksumMethod
) -> TableEntry:
    """Row count and content checksum of one table, as seen by `conn`'s snapshot.

    The checksum is the sum of a 64-bit hash of each row: independent of row order (a restore
    writes rows in another physical order) yet sensitive to a lost, added, duplicated or
    changed row."""
    query = sql.SQL("SELECT count(*), coalesce(sum({}), 0)::text FROM ONLY {}.{} t").format(
        sql.SQL(_ROW_HASH[method]), sql.Identifier(table.schema), sql.Identifier(table.name)
    )
    row = conn.execute(query).fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return TableEntry(rows=int(str(row[0])), checksum=str(row[1]), method=method)


def table_stats(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, TableEntry]:
    """Statistics of every user table in `conn`'s snapshot (one connection, in order)."""
    return {table.qualified: table_stat(conn, table, table.method) for table in user_tables(conn)}


def parallel_table_stats(
    server: ServerConfig, dbname: str, jobs: int, methods: Mapping[str, ChecksumMethod]
) -> dict[str, TableEntry]:
    """Statistics of every user table of a database nobody writes to (a restored scratch
    database), over `jobs` connections, largest tables first; a table named in `methods` is
    hashed the way it was at backup time."""
    with connect(server, dbname) as conn:
        pending: queue.SimpleQueue[Table] = queue.SimpleQueue()
        for table in user_tables(conn):
            pending.put(table)

    def work() -> dict[str, TableEntry]:
        stats: dict[str, TableEntry] = {}
        with connect(server, dbname) as conn:
            pin_text_settings(conn)
            while True:
                try:
                    table = pending.get_nowait()
                except queue.Empty:
                    return stats
                method = methods.get(table.qualified, table.method)
                stats[table.qualified] = table_stat(conn, table, method)

    with ThreadPoolExecutor(jobs, thread_name_prefix="verify") as pool:
        futures = [pool.submit(work) for _ in range(jobs)]
        return {name: entry for future in futures for name, entry in future.result().items()}


@dataclass(frozen=True)
class ServerFacts:
    system_identifier: str
    server_version: str
    in_recovery: bool


def _one_row(conn: psycopg.Connection[tuple[object, ...]], query: str) -> tuple[object, ...]:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None  # the queries here always return one row
    return row


def server_facts(conn: psycopg.Connection[tuple[object, ...]]) -> ServerFacts:
    row = _one_row(
        conn,
        "SELECT (SELECT system_identifier FROM pg_control_system())::text, "
        "current_setting('server_version'), pg_is_in_recovery()",
    )
    return ServerFacts(str(row[0]), str(row[1]), bool(row[2]))


@dataclass(frozen=True)
class Snapshot:
    id: str
    taken_at: datetime
    lsn: str


def export_snapshot(conn: psycopg.Connection[tuple[object, ...]]) -> Snapshot:
    """Open a repeatable-read transaction on `conn` and export its snapshot for pg_dump."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    row = _one_row(
        conn,
        "SELECT pg_export_snapshot(), clock_timestamp(), CASE WHEN pg_is_in_recovery() "
        "THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text",
    )
    taken_at = row[1]
    assert isinstance(taken_at, datetime)
    return Snapshot(str(row[0]), taken_at, str(row[2]))
