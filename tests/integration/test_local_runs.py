"""With no daemon answering, a changing command takes the daemon's path in its own process: the
request through the rules (locks, parameters, approval) into the same store, the job run by the
runbook runner, its journal and status stored; --dry-run plans through that path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.app.config import load_config
from orchestrator.app.wiring import open_configured_store
from orchestrator.core.jobs import Job, JobStatus
from tests.harness.fluxora import cli, write_config
from tests.harness.processes import free_port

pytestmark = pytest.mark.integration


def settings(tmp_path: Path) -> list[str]:
    """A config and data directory, and a port no daemon listens on."""
    config = write_config(tmp_path / "c.yaml")
    return ["--config", str(config), "--data-dir", str(tmp_path / "data"),
            "--listen", f"127.0.0.1:{free_port()}"]  # fmt: skip


def stored_jobs(tmp_path: Path) -> list[Job]:
    config = load_config(config_file=tmp_path / "c.yaml", data_dir=tmp_path / "data", environ={})
    store = open_configured_store(config)
    try:
        return store.list_jobs()
    finally:
        store.close()


def test_a_dry_run_with_no_daemon_is_a_stored_job_that_prints_its_plan(tmp_path: Path) -> None:
    args = settings(tmp_path)
    done = cli("runbook", "run", "drill", "--dry-run", "--param", f"dir={tmp_path}",
               "--param", "seconds=3000", *args)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no daemon at" in done.stderr
    assert "plan: wait 3000s" in done.stdout
    (job,) = stored_jobs(tmp_path)
    assert (job.runbook, job.rule, job.status, job.dry_run) == (
        "drill", "runbook-request", JobStatus.COMPLETED, True)  # fmt: skip
    assert job.owner is not None
    assert job.owner.startswith("cli:")


def test_a_run_here_takes_the_runbooks_lock_and_is_refused_while_another_job_holds_it(
    tmp_path: Path,
) -> None:
    args = settings(tmp_path)
    assert cli("validate", *args).returncode == 0  # the store exists
    config = load_config(config_file=tmp_path / "c.yaml", data_dir=tmp_path / "data", environ={})
    store = open_configured_store(config)
    store.migrate()
    holder = store.add_job(Job(runbook="slow", env="dev", lock_key="runbook-slow"))
    store.close()
    done = cli("runbook", "run", "slow", "--local", "--param", "seconds=0", "--json", *args)
    assert done.returncode == 1
    assert f"lock 'runbook-slow' is held by job {holder.id} (pending)" in done.stderr
    assert [job.id for job in stored_jobs(tmp_path)] == [holder.id]


def test_a_local_run_reports_what_the_runner_did(tmp_path: Path) -> None:
    done = cli("runbook", "run", "slow", "--local", "--param", "seconds=0", "--json",
               *settings(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "completed"
    assert [s["name"] for s in job["journal"]["steps"]] == ["hold"]
