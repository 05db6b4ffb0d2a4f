"""The DR hooks on the real daemon (fixture runbook `drill`, driven by files): steady state
before and after, a stop condition mid-run, rollbacks in order, a failing rollback, the kill
switch, RTO/RPO against targets in the journal, and the drill metrics on /metrics."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fluxora import Daemon, cli, secret_env, start_daemon
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

ROLLBACKS = ["undo-first", "undo-broken", "undo-last"]
DRILL = {"runbook": "drill", "env": "dev"}


def request(daemon: Daemon, runbook: str, **params: Any) -> str:
    """A job through the request rule, as `fluxora-orch runbook run` makes one."""
    answer = daemon.client.post_event(
        f"fluxora/request/runbook/{runbook}", {"env": "dev", "params": params}
    )
    assert answer.status == 202, answer.body
    return daemon.client.fired_job(answer.body["id"], "runbook-request")


def names(journal: dict[str, Any], phase: str) -> list[str]:
    return [s["name"] for s in journal["steps"] + journal["rollbacks"] if s["phase"] == phase]


def holding(daemon: Daemon, job_id: str) -> None:
    def in_hold() -> bool:
        journal = daemon.client.job(job_id)["journal"]
        return bool(journal and (journal.get("current") or {}).get("name") == "hold")

    wait_until(in_hold, 30, f"job {job_id} in its hold step")


def test_a_drill_with_healthy_checks_completes_with_targets_met(
    orch_daemon: Daemon, tmp_path: Path
) -> None:
    job = orch_daemon.client.finished_job(request(orch_daemon, "drill", dir=str(tmp_path)))
    journal = job["journal"]
    assert (job["status"], journal["deviated"]) == ("completed", False)
    assert [(s["name"], s["phase"]) for s in journal["steps"]] == [
        ("not-halted", "check"),
        ("start", "step"),
        ("hold", "step"),
        ("healthy-after", "check"),
    ]
    dr = journal["extensions"]["dr"]
    assert (dr["policy"], dr["verdicts"], dr["source"]) == ("met", {"rto": "met"}, "wall time")
    assert dr["targets"] == {"rto_seconds": 600.0, "rpo_seconds": None}


def test_a_failing_before_check_aborts_without_acting(orch_daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "halt-before").touch()
    job = orch_daemon.client.finished_job(request(orch_daemon, "drill", dir=str(tmp_path)))
    journal = job["journal"]
    assert job["status"] == "aborted"
    assert "steady state before: check 'not-halted' (check.file) failed" in journal["error"]
    assert names(journal, "step") == []
    assert journal["rollbacks"] == []
    assert orch_daemon.client.sample("fluxora_drill_last_status", **DRILL) == 0


def test_a_failing_after_check_marks_the_run_deviated(orch_daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "unhealthy-after").touch()
    job = orch_daemon.client.finished_job(request(orch_daemon, "drill", dir=str(tmp_path)))
    assert (job["status"], job["journal"]["deviated"]) == ("completed", True)
    assert job["journal"]["extensions"]["steady_state"]["after"][0]["ok"] is False


def test_a_stop_condition_aborts_within_its_interval_and_rolls_back_in_order(
    orch_daemon: Daemon, tmp_path: Path
) -> None:
    job_id = request(orch_daemon, "drill", dir=str(tmp_path), seconds=300)
    holding(orch_daemon, job_id)
    tripped = time.time()
    (tmp_path / "stop").touch()
    job = orch_daemon.client.finished_job(job_id, timeout=30)
    journal = job["journal"]
    assert job["status"] == "aborted"
    assert journal["error"].startswith("aborted: stop condition: check 'stop-file'")
    (stop,) = [s for s in journal["steps"] if s["name"] == "stop-file"]
    noticed = datetime.fromisoformat(stop["started_at"]).timestamp()
    assert noticed - tripped < 0.5 + 2.0  # one interval, plus slack for a loaded machine
    assert names(journal, "rollback") == ROLLBACKS
    assert all(s["status"] == "ok" for s in journal["rollbacks"])
    # The steady state after is checked after the rollbacks too: did they restore it?
    assert journal["steps"][-1]["name"] == "healthy-after"


def test_a_failing_step_runs_every_rollback_in_order(orch_daemon: Daemon, tmp_path: Path) -> None:
    job = orch_daemon.client.finished_job(
        request(orch_daemon, "drill", dir=str(tmp_path), seconds=-1)
    )
    assert job["status"] == "failed"
    assert job["journal"]["error"].startswith("step 'hold': params.seconds")
    assert names(job["journal"], "rollback") == ROLLBACKS


def test_a_failing_rollback_fails_an_aborted_run(orch_daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "rollback-breaks").touch()
    job_id = request(orch_daemon, "drill", dir=str(tmp_path), seconds=300)
    holding(orch_daemon, job_id)
    (tmp_path / "stop").touch()
    job = orch_daemon.client.finished_job(job_id, timeout=30)
    assert job["status"] == "failed"
    statuses = {s["name"]: s["status"] for s in job["journal"]["rollbacks"]}
    assert statuses == {"undo-first": "ok", "undo-broken": "failed", "undo-last": "ok"}
    assert "rollback 'undo-broken'" in job["journal"]["error"]


def test_the_kill_switch_aborts_a_running_job_and_refuses_a_finished_one(
    orch_daemon: Daemon, tmp_path: Path
) -> None:
    job_id = request(orch_daemon, "drill", dir=str(tmp_path), seconds=300)
    holding(orch_daemon, job_id)
    aborted = cli("jobs", "abort", job_id, *orch_daemon.settings(), env=secret_env())
    assert aborted.returncode == 0, aborted.stderr
    job = orch_daemon.client.finished_job(job_id, timeout=30)
    assert job["status"] == "aborted"
    assert job["journal"]["error"] == "aborted: aborted by operator"
    assert names(job["journal"], "rollback") == ROLLBACKS
    again = cli("jobs", "abort", job_id, *orch_daemon.settings(), env=secret_env())
    assert again.returncode == 1
    assert f"job {job_id} is already aborted" in again.stderr
    unknown = cli("jobs", "abort", "no-such-job", *orch_daemon.settings(), env=secret_env())
    assert unknown.returncode == 1
    assert "no job 'no-such-job'" in unknown.stderr


def test_an_unsigned_abort_is_refused(orch_daemon: Daemon) -> None:
    answer = orch_daemon.client.post("/api/jobs/x/abort", b"{}", {})
    assert answer.status == 401


def test_drill_metrics_carry_the_last_run_and_survive_a_restart(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        assert daemon.client.sample("fluxora_drill_rto_target_seconds", **DRILL) == 600
        daemon.client.finished_job(request(daemon, "drill", dir=str(tmp_path)))
        before = _drill_samples(daemon)
        (tmp_path / "halt-before").touch()
        daemon.client.finished_job(request(daemon, "drill", dir=str(tmp_path)))
        failed = _drill_samples(daemon)
    finally:
        assert daemon.stop() == 0
    assert before["fluxora_drill_last_status"] == 1
    assert before["fluxora_drill_last_success_timestamp_seconds"] > time.time() - 600
    assert before["fluxora_drill_rto_seconds"] > 0
    assert failed["fluxora_drill_last_status"] == 0
    success = before["fluxora_drill_last_success_timestamp_seconds"]
    assert failed["fluxora_drill_last_success_timestamp_seconds"] == success
    restarted = daemon.restart()
    try:
        assert _drill_samples(restarted) == failed
    finally:
        assert restarted.stop() == 0


def _drill_samples(daemon: Daemon) -> dict[str, float]:
    wanted = (
        "fluxora_drill_last_status",
        "fluxora_drill_last_success_timestamp_seconds",
        "fluxora_drill_rto_seconds",
        "fluxora_drill_rto_target_seconds",
    )
    return {name: daemon.client.sample(name, **DRILL) for name in wanted}
