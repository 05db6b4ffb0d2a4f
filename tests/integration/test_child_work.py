"""Child work stops with its step: an aborted backup takes its blocked pg_dump along, and a
job worker killed during restore-verify leaves nothing behind once its replacement starts
(no pg_restore, no scratch database, no scratch file). Real daemon, real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestrator.engine.sources.signing import signed_headers
from tests.harness.backup import database_entry, scheduled_backups, scratch_database
from tests.harness.fluxora import SECRET, Daemon, start_daemon
from tests.harness.postgres import PgCluster, PgPair
from tests.harness.processes import wait_until
from tests.integration.test_backup_faults import BULKY
from tests.integration.test_dr_hooks import request

pytestmark = pytest.mark.integration


def processes(name: str, under: int | None = None) -> list[int]:
    """Live processes named `name` (children of `under` when given)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if comm == name and fields[0] != "Z" and (under is None or int(fields[1]) == under):
            found.append(int(entry.name))
    return found


def backends_waiting_on_locks(cluster: PgCluster, dbname: str) -> int:
    query = (f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{dbname}' "
             "AND wait_event_type = 'Lock'")  # fmt: skip
    return int(cluster.psql(query))


@pytest.fixture
def app(pg_pair: PgPair) -> Iterator[tuple[str, dict[str, Any]]]:
    with scratch_database(pg_pair.primary) as name:
        yield name, {"app": database_entry(pg_pair.primary, name)}


def test_abort_stops_a_pg_dump_blocked_on_a_lock_within_two_seconds(
    tmp_path: Path, pg_pair: PgPair, app: tuple[str, dict[str, Any]]
) -> None:
    dbname, databases = app
    daemon = start_daemon(tmp_path, **scheduled_backups(databases, every="1h"))
    locker = psycopg.connect(pg_pair.primary.dsn(dbname))
    try:
        locker.execute("LOCK TABLE meters IN ACCESS EXCLUSIVE MODE")  # held: no commit
        job_id = request(daemon, "backup", database="app", kind="logical")
        worker = daemon.job_worker_pid()
        wait_until(lambda: backends_waiting_on_locks(pg_pair.primary, dbname) >= 2, 60,
                   "pg_dump and the table statistics blocked on the lock")  # fmt: skip
        (dump,) = processes("pg_dump", under=worker)
        body, path = json.dumps({"by": "test"}).encode(), f"/api/jobs/{job_id}/abort"
        asked = time.monotonic()
        answer = daemon.client.post(path, body, signed_headers(SECRET, body, path=path))
        assert answer.status < 300, answer.body
        wait_until(lambda: dump not in processes("pg_dump"), 2, "pg_dump gone")
        gone_after = time.monotonic() - asked
        wait_until(lambda: backends_waiting_on_locks(pg_pair.primary, dbname) == 0, 5,
                   "no backend of the backup waiting on the lock")  # fmt: skip
        job = daemon.client.finished_job(job_id, timeout=10)  # the lock is still held
    finally:
        locker.close()
        assert daemon.stop() == 0
    assert gone_after < 2
    assert job["status"] == "aborted"
    assert "cancelled" in job["journal"]["steps"][-1]["error"]


@pytest.fixture
def bulky(pg_pair: PgPair) -> Iterator[tuple[str, dict[str, Any]]]:
    with scratch_database(pg_pair.primary, BULKY) as name:
        yield name, {"app": database_entry(pg_pair.primary, name)}


def scratch_databases(cluster: PgCluster) -> list[str]:
    names = cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE 'fluxora_verify_%'")
    return names.split()


def restarted_worker(daemon: Daemon, killed: int) -> int:
    def replaced() -> bool:
        up = daemon.client.sample("fluxora_job_worker_up") == 1
        return up and daemon.client.sample("fluxora_job_worker_restarts_total") == 1

    wait_until(replaced, 60, "a replacement job worker")
    pid = daemon.job_worker_pid()
    assert pid != killed
    return pid


def kill_worker(daemon: Daemon, worker: int) -> Daemon:
    """SIGKILL the job worker; the daemon starts another."""
    os.kill(worker, signal.SIGKILL)
    restarted_worker(daemon, worker)
    return daemon


def kill_daemon(daemon: Daemon, worker: int) -> Daemon:
    """SIGKILL the daemon (the worker dies with it); start it again."""
    daemon.server.popen.send_signal(signal.SIGKILL)
    daemon.server.popen.wait(10)
    wait_until(lambda: not Path(f"/proc/{worker}").exists(), 10, "the job worker gone")
    return daemon.restart()


@pytest.mark.parametrize("kill", [kill_worker, kill_daemon], ids=["worker", "daemon"])
def test_a_worker_killed_during_restore_verify_leaves_nothing_once_replaced(
    tmp_path: Path,
    pg_pair: PgPair,
    bulky: tuple[str, dict[str, Any]],
    kill: Callable[[Daemon, int], Daemon],
) -> None:
    _, databases = bulky
    daemon = start_daemon(tmp_path, **scheduled_backups(databases, every="1h"))
    scratch_dir = daemon.data_dir / "scratch"
    try:
        backup = daemon.client.finished_job(request(daemon, "backup", database="app"), 120)
        assert backup["status"] == "completed", backup["journal"]["error"]
        job_id = request(daemon, "restore-verify", database="app")
        worker = daemon.job_worker_pid()
        wait_until(lambda: bool(processes("pg_restore", under=worker)), 120, "pg_restore running")
        restores = processes("pg_restore")
        left_db = scratch_databases(pg_pair.primary)
        left_files = list(scratch_dir.iterdir())
        daemon = kill(daemon, worker)
        job = daemon.client.finished_job(job_id, 30)
        after = {
            "pg_restore": [pid for pid in restores if pid in processes("pg_restore")],
            "databases": scratch_databases(pg_pair.primary),
            "files": list(scratch_dir.iterdir()),
            "leftovers": list((daemon.data_dir / "leftovers").rglob("*.json")),
        }
    finally:
        assert daemon.stop() == 0
    assert restores
    assert left_db
    assert left_files  # there was something to sweep
    assert after == {"pg_restore": [], "databases": [], "files": [], "leftovers": []}
    assert job["status"] == "interrupted"
