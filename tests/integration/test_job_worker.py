"""The daemon's job worker process, as a real child of the real daemon: it dies with the
daemon, and a worker that dies alone is replaced without losing track of its jobs."""

from __future__ import annotations

import os
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fluxora import FIXTURE_RUNBOOKS, start_daemon
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _rolled_back(job: dict[str, Any]) -> bool:
    """Interrupted, and its rollbacks have run (the status comes first, the rollbacks after)."""
    return job["status"] == "interrupted" and job["journal"]["rollbacks_pending"] is False


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


def test_a_killed_job_worker_is_replaced_and_its_running_job_interrupted_and_rolled_back(
    tmp_path: Path,
) -> None:
    daemon = start_daemon(tmp_path)
    try:
        client = daemon.client
        job_id = client.fired_job(
            client.post_event("fluxora/test/slow", {"seconds": 60}).body["id"], "slow"
        )
        wait_until(lambda: client.job(job_id)["status"] == "running", 10, "job running")
        first = daemon.job_worker_pid()
        os.kill(first, signal.SIGKILL)

        wait_until(lambda: client.sample("fluxora_job_worker_restarts_total") == 1, 30, "restart")
        wait_until(lambda: _rolled_back(client.job(job_id)), 30, "job interrupted, rolled back")
        journal = client.job(job_id)["journal"]
        assert [r["name"] for r in journal["rollbacks"]] == ["undo-first", "undo-second"]
        assert all(r["status"] == "ok" for r in journal["rollbacks"])
        assert daemon.job_worker_pid() != first
        assert client.sample("fluxora_job_worker_up") == 1
        assert _ready(daemon.server.url)

        after = client.post_event("fluxora/test/noop-after-restart").body["id"]
        assert client.finished_job(client.fired_job(after, "noop-on-request"))["status"] == (
            "completed"
        )
        assert daemon.server.popen.poll() is None
    finally:
        assert daemon.stop() == 0


def test_a_killed_daemon_takes_its_job_worker_along(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    worker = daemon.job_worker_pid()
    daemon.server.popen.send_signal(signal.SIGKILL)
    daemon.server.popen.wait(10)
    wait_until(lambda: _gone(worker), 10, f"job worker {worker} to die with the daemon")


def test_sigterm_stops_the_job_worker_with_the_daemon(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    worker = daemon.job_worker_pid()
    assert daemon.stop() == 0
    assert _gone(worker)


def _worker_cannot_start(tmp_path: Path) -> tuple[Path, str]:
    """Runbooks the running daemon loaded, then broke on disk: a new worker fails to load
    them. The runbook file and its good text, to mend it."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(FIXTURE_RUNBOOKS, runbooks)
    return runbooks, (runbooks / "noop.yaml").read_text()


def _failed_starts(log: Path) -> int:
    return log.read_text().count("the job worker did not start")


def test_while_no_worker_starts_events_are_decided_and_jobs_wait_until_one_does(
    tmp_path: Path,
) -> None:
    runbooks, good = _worker_cannot_start(tmp_path)
    daemon = start_daemon(tmp_path, runbooks_dir=str(runbooks))
    try:
        client = daemon.client
        (runbooks / "noop.yaml").write_text("name: [unclosed\n")
        os.kill(daemon.job_worker_pid(), signal.SIGKILL)
        wait_until(lambda: _failed_starts(daemon.server.log_path) >= 1, 30, "a failed start")
        assert client.sample("fluxora_job_worker_up") == 0
        assert not _ready(daemon.server.url)

        job_id = client.fired_job(client.post_event("fluxora/test/noop-waits").body["id"],
                                  "noop-on-request")  # fmt: skip
        assert client.job(job_id)["status"] == "pending"

        (runbooks / "noop.yaml").write_text(good)
        assert client.finished_job(job_id, timeout=60)["status"] == "completed"
        assert client.sample("fluxora_job_worker_up") == 1
        assert client.sample("fluxora_job_worker_restarts_total") == 1
    finally:
        assert daemon.stop() == 0


def test_sigterm_does_not_wait_out_a_restart_back_off(tmp_path: Path) -> None:
    runbooks, _ = _worker_cannot_start(tmp_path)
    daemon = start_daemon(tmp_path, runbooks_dir=str(runbooks))
    (runbooks / "noop.yaml").write_text("name: [unclosed\n")
    os.kill(daemon.job_worker_pid(), signal.SIGKILL)
    # back-offs 1 s, 2 s, 5 s: after the third failed start the next try is 10 s away
    wait_until(lambda: _failed_starts(daemon.server.log_path) >= 3, 60, "three failed starts")
    asked = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - asked < 5, "the stop waited for the back-off"
