"""The real daemon across stops, crashes and restarts; invalid rule files; schedules."""

from __future__ import annotations

import json
import signal
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator.app.config import load_config
from orchestrator.app.wiring import open_configured_store
from orchestrator.core.events import Event, EventSource
from orchestrator.core.inbox import Submission
from tests.harness.fluxora import FIXTURE_RUNBOOKS, Daemon, cli, start_daemon
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

INVALID_RULES = Path(__file__).resolve().parents[1] / "fixtures" / "rules" / "invalid"


def _commit_directly(daemon: Daemon, tags: list[str]) -> list[str]:
    """Put events in the inbox as a crash between commit and processing leaves them."""
    store = open_configured_store(load_config(config_file=daemon.config, data_dir=daemon.data_dir))
    try:
        events = [Event(tag=tag, source=EventSource.WEBHOOK) for tag in tags]
        store.add_events([Submission(event=e) for e in events])
        assert store.unprocessed_count() == len(events)
    finally:
        store.close()
    return [e.id for e in events]


def test_events_left_in_the_inbox_are_processed_after_a_restart(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    assert daemon.stop() == 0
    waiting = _commit_directly(daemon, ["fluxora/test/noop-a", "fluxora/test/noop-b"])
    daemon = daemon.restart()
    try:
        for event_id in waiting:
            job_id = daemon.client.fired_job(event_id, "noop-on-request")
            assert daemon.client.finished_job(job_id)["status"] == "completed"
        wait_until(lambda: daemon.client.sample("fluxora_inbox_depth") == 0, 10, "empty inbox")
    finally:
        daemon.stop()


def test_every_acknowledged_event_survives_a_crash(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    acknowledged: list[str] = []
    enough = threading.Event()

    def send(n: int) -> None:
        try:
            answer = daemon.client.post_event("fluxora/test/noop-crash", {"n": n})
        except OSError:
            return  # the daemon is gone: this one was never acknowledged
        if answer.status == 202:
            acknowledged.append(answer.body["id"])
            if len(acknowledged) >= 150:
                enough.set()

    with ThreadPoolExecutor(8) as pool:
        for n in range(600):
            pool.submit(send, n)
        assert enough.wait(60), "the daemon acknowledged too few events"
        daemon.server.popen.send_signal(signal.SIGKILL)  # a crash: no shutdown at all
        daemon.server.popen.wait(10)
    daemon = daemon.restart()
    try:
        for event_id in acknowledged:
            assert daemon.client.decided(event_id)["decisions"], event_id
    finally:
        daemon.stop()


def test_sigterm_stops_intake_and_interrupts_a_running_job_whose_rollbacks_run_at_restart(
    tmp_path: Path,
) -> None:
    daemon = start_daemon(tmp_path, shutdown_grace_seconds=2)
    event_id = daemon.client.post_event("fluxora/test/slow", {"seconds": 60}).body["id"]
    job_id = daemon.client.fired_job(event_id, "slow")
    wait_until(lambda: daemon.client.job(job_id)["status"] == "running", 10, "job running")
    daemon.server.popen.send_signal(signal.SIGTERM)
    refused = daemon.client.post_event("fluxora/test/noop-late")
    assert (refused.status, refused.body["reason"]) == (503, "shutting_down")
    assert daemon.server.popen.wait(30) == 0
    daemon = daemon.restart()
    try:
        job = daemon.client.job(job_id)
        journal = job["journal"]
        assert job["status"] == "interrupted"
        assert journal["status"] == "interrupted"
        assert "the daemon stopped during step 'hold'" in journal["error"]
        assert [r["name"] for r in journal["rollbacks"]] == ["undo-first", "undo-second"]
        assert all(r["status"] == "ok" for r in journal["rollbacks"])
        assert journal["rollbacks_pending"] is False
    finally:
        daemon.stop()


def _expected(fixture: Path) -> str:
    first = fixture.read_text().splitlines()[0]
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("fixture", sorted(INVALID_RULES.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_rule_file_fails_validate_and_run_naming_file_rule_and_reason(
    fixture: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(fixture.read_text() + f"runbooks_dir: {FIXTURE_RUNBOOKS}\n")
    expected = f"fluxora-orch: error: {config}: {_expected(fixture)}"
    validate = cli("validate", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert (validate.returncode, validate.stderr.strip()) == (1, expected)
    run = cli("run", "--config", str(config), "--data-dir", str(tmp_path / "d"),
              "--listen", "127.0.0.1:1")  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == expected


def test_validate_reports_what_it_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"runbooks_dir: {FIXTURE_RUNBOOKS}\nrules: []\n")
    result = cli("validate", "--config", str(config), "--json", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["runbooks"] == sorted(p.stem for p in FIXTURE_RUNBOOKS.glob("*.yaml"))
    assert summary["rules"] == []


def test_interval_schedule_fires_through_the_inbox_and_misses_are_counted(
    tmp_path: Path,
) -> None:
    schedule = {"name": "tick", "interval": 1, "misfire_grace": 1, "data": {"db": "forecasts"}}
    daemon = start_daemon(tmp_path, schedules=[schedule])
    client = daemon.client
    wait_until(lambda: client.sample("fluxora_schedule_runs_total", schedule="tick") >= 1, 15,
               "the schedule to fire")  # fmt: skip
    (event,) = client.get("/api/events?tag=fluxora/schedule/tick&limit=1")
    assert event["source"] == "schedule"
    assert event["data"]["db"] == "forecasts"
    job_id = client.fired_job(event["id"], "scheduled")
    assert client.finished_job(job_id)["status"] == "completed"
    assert client.sample("fluxora_schedule_interval_seconds", schedule="tick") == 1
    daemon.stop()
    down = threading.Event()
    down.wait(4)  # downtime is the point of this test: runs fall due while the daemon is off
    daemon = daemon.restart()
    try:
        wait_until(
            lambda: daemon.client.sample("fluxora_schedule_misfires_total", schedule="tick") >= 2,
            15,
            "the runs missed while down to be counted",
        )
    finally:
        daemon.stop()


def test_cli_reads_the_store_when_no_daemon_runs(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    event_id = daemon.client.post_event("fluxora/test/noop-offline").body["id"]
    job_id = daemon.client.fired_job(event_id, "noop-on-request")
    daemon.client.finished_job(job_id)
    daemon.stop()
    result = cli("explain", event_id, *daemon.settings())
    assert result.returncode == 0, result.stderr
    assert "reading its store" in result.stderr
    assert f"noop-on-request: fired job {job_id}" in result.stdout
    jobs = cli("jobs", "--json", *daemon.settings())
    assert [j["id"] for j in json.loads(jobs.stdout)] == [job_id]
    unknown = cli("job", uuid.uuid4().hex, *daemon.settings())
    assert unknown.returncode == 1
    assert "fluxora-orch: error: no job" in unknown.stderr


def test_a_taken_port_fails_run_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        result = cli("run", "--data-dir", str(tmp_path), "--listen", listen)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fluxora-orch: error: cannot listen on {listen}: ")
    assert last.endswith("address already in use")
    assert "the daemon is gone" not in result.stderr  # the worker was stopped, not orphaned
