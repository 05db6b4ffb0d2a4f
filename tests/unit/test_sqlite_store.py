"""What the SQLite store does for two writing processes: a writer waits its turn for the lock,
and the daemon's checkpointer (not the writer's commits) moves the WAL into the database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from orchestrator.core.events import Event, EventSource
from orchestrator.core.inbox import Submission
from orchestrator.store import SQLITE_FILE, open_store
from tests.harness.processes import wait_until

HOLD_SECONDS = 0.35
# SQLite's busy handler sleeps 1, 2, 5 ... 50, 100 ms between tries: a lock freed at 350 ms is
# seen at 428 ms. The store polls every 2 ms at most.
LATE_AFTER_RELEASE_SECONDS = 0.04


def test_a_writer_waits_for_the_lock_another_connection_holds(tmp_path: Path) -> None:
    first, second = (open_store(None, tmp_path) for _ in range(2))
    first.migrate()
    held = threading.Event()
    released: list[float] = []

    def hold() -> None:
        with first.transaction() as conn:
            conn.execute(text("SELECT 1"))
            held.set()
            time.sleep(HOLD_SECONDS)  # the other writer's work, while it holds the lock
        released.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    admitted = second.add_events([Submission(event=Event(tag="t", source=EventSource.WEBHOOK))])
    written = time.monotonic()
    holder.join()
    assert len(admitted) == 1
    assert second.unprocessed_count() == 1
    assert written >= released[0], "it wrote while the other connection held the lock"
    assert written - released[0] < LATE_AFTER_RELEASE_SECONDS, "it saw the free lock late"
    first.close()
    second.close()


def test_the_checkpointer_moves_the_wal_into_the_database_off_the_writers_path(
    tmp_path: Path,
) -> None:
    store = open_store(None, tmp_path)
    store.migrate()
    database = tmp_path / SQLITE_FILE
    pad = "x" * 4000
    count = 1200  # ~4.8 MB: past SQLite's default autocheckpoint (1,000 pages), below ours
    events = [Event(tag="t", source=EventSource.WEBHOOK, data={"pad": pad}) for _ in range(count)]
    before = database.stat().st_size
    store.add_events([Submission(event=e) for e in events])
    assert database.stat().st_size == before, "a writer's commit checkpointed the WAL"
    with store.housekeeping():
        wait_until(lambda: database.stat().st_size > before + count * 4000, 10, "a checkpoint")
    assert store.unprocessed_count() == count
    store.close()
