"""The default store: one SQLite file in WAL mode, every commit fsynced (synchronous=FULL).

The daemon's intake writes the hot path (its job worker's job-store calls included); the job
worker's hooks and the CLI write too. Writers wait for the write lock here, polling every
`LOCK_POLL_SECONDS` at most, not in SQLite's busy handler: that one sleeps up to 100 ms between
tries, so under contention a writer could wait hundreds of milliseconds for a lock that was
free after one (measured while both daemon processes wrote: intake commits held up to 180 ms,
event -> decision p99 173-498 ms, at 1,000 events/s).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError

from orchestrator.core.logs import get_logger
from orchestrator.store.sql import SqlStore, UpsertInsert, dumps

log = get_logger(__name__)

BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_SECONDS = 0.2
# A connection checkpoints the WAL itself (in its commit) only past this many pages: the daemon's
# checkpointer thread does it first, so the writer's commits do not pay for copying the WAL into
# the database and fsyncing it (7-9 ms every ~120 ms at 1,000 events/s with SQLite's default
# of 1,000 pages). Without a daemon running, the CLI's connections still checkpoint here.
AUTOCHECKPOINT_PAGES = 10_000
LOCK_POLL_SECONDS = (0.0001, 0.0002, 0.0005, 0.001, 0.002)


class SqliteStore(SqlStore):
    """Writers take the database lock at BEGIN (BEGIN IMMEDIATE), so a CLI approving a job
    while the daemon writes waits for its turn instead of failing a lock upgrade. The wait is
    `_on_begin`'s (up to BUSY_TIMEOUT_MS), SQLite's own busy timeout covers only connecting."""

    def __init__(self, path: Path, metadata: MetaData) -> None:
        _create_private(path)
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            json_serializer=dumps,
            hide_parameters=True,  # an error's message must not carry event payloads
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, metadata)
        self.path = path

    def _insert(self, table: Table) -> UpsertInsert:
        return sqlite_insert(table)

    def _cannot_write(self, exc: DBAPIError) -> str | None:
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}:
            return str(exc.orig)
        return None

    @contextlib.contextmanager
    def housekeeping(self) -> Iterator[None]:
        """PASSIVE WAL checkpoints every CHECKPOINT_SECONDS on a thread and connection of their
        own (a passive checkpoint never blocks a writer)."""
        stop = threading.Event()
        thread = threading.Thread(
            target=_checkpoints, args=(self.path, stop), name="sqlite-checkpoints", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _create_private(path: Path) -> None:
    """A new store's directory 0700 and its file 0600 (SQLite gives its -wal and -shm files
    the database file's mode): every event is readable by whoever reads the file. Modes of an
    existing directory or file are the operator's and left alone."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _on_connect(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
        f"wal_autocheckpoint={AUTOCHECKPOINT_PAGES}",
        "busy_timeout=0",  # connected: from here on `_on_begin` waits for the lock
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE, tried again within a millisecond or two of a busy answer."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    tries = 0
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
        else:
            return
        time.sleep(LOCK_POLL_SECONDS[min(tries, len(LOCK_POLL_SECONDS) - 1)])
        tries += 1


def _busy(exc: OperationalError) -> bool:
    """SQLITE_BUSY, or one of its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, ...)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _checkpoints(path: Path, stop: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        while not stop.wait(CHECKPOINT_SECONDS):
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the writers' own checkpoints still bound the WAL
                log.warning("WAL checkpoint failed; retrying", path=str(path), error=str(exc))
    finally:
        conn.close()
