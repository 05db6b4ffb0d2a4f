"""The operator's first hour against a real daemon: what it says at start, what it does with
alerts it cannot act on, and a CLI that outlives a daemon restart."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app import reachability
from orchestrator.app.config import EMBEDDED_DEFAULTS, load_config
from orchestrator.app.local import local
from orchestrator.cli import requests
from orchestrator.cli.client import DaemonError
from orchestrator.engine.config import SaltConfig
from tests.harness.fluxora import Daemon, OrchClient, cli, secret_env, write_config
from tests.harness.orchestrator import fluxora_orch, start_orchestrator, terminate
from tests.harness.processes import ServerProcess, free_port, wait_until

pytestmark = pytest.mark.integration


def log_lines(daemon: Daemon) -> list[dict[str, Any]]:
    path = daemon.config.parent / "orch.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def alert(name: str, **labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": name, **labels}, "fingerprint": name}


def notification(alerts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "fluxora", "alerts": alerts,
            "groupKey": '{}:{alertname="FirstHourTruncated"}', **extra}  # fmt: skip


def test_truncated_alerts_are_logged_and_counted(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    before = client.sample("fluxora_alertmanager_truncated_alerts_total")
    payload = notification([alert("FirstHourTruncated")], truncatedAlerts=7)
    answer = client.post_alerts(payload)
    assert answer.status == 202, answer.body
    assert client.sample("fluxora_alertmanager_truncated_alerts_total") == before + 7

    def logged() -> list[dict[str, Any]]:
        return [
            line for line in log_lines(orch_daemon)
            if line.get("truncated_alerts") == 7 and "FirstHourTruncated" in line["group"]
        ]  # fmt: skip

    wait_until(lambda: bool(logged()), 10, "the truncation warning in the log")
    (line,) = logged()
    assert line["level"] == "warning"
    assert "max_alerts" in line["msg"]
    assert line["receiver"] == "fluxora"


def test_a_refused_request_leads_with_the_rule_that_refused_it(tmp_path: Path) -> None:
    settings = ["--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}"]
    refused = cli("runbook", "run", "nosuch", "--local", *settings)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0].startswith("fluxora-orch: error: no job for fluxora/request/runbook/nosuch")
    assert lines[1] == "  runbook-request: rejected: no runbook named 'nosuch'"
    assert lines[2].startswith("  (")
    assert "other rules did not match; --verbose" in lines[2]
    assert "backup-on-schedule" not in refused.stderr
    verbose = cli("runbook", "run", "nosuch", "--local", "--verbose", *settings)
    assert verbose.stderr.splitlines()[1] == lines[1]
    assert "  backup-on-schedule: no-match: " in verbose.stderr


@pytest.mark.parametrize("event_id", ["a b", "é", "x/../../jobs"])
def test_explain_takes_any_id_with_or_without_a_daemon(
    orch_daemon: Daemon, tmp_path: Path, event_id: str
) -> None:
    offline = ["--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}"]
    for settings in (orch_daemon.settings(), offline):
        found = cli("explain", event_id, *settings)
        assert found.returncode == 1
        assert "Traceback" not in found.stderr
        assert f"no event {event_id!r}" in found.stderr


def test_events_limit_beyond_the_api_cap_is_the_same_clear_error_everywhere(
    orch_daemon: Daemon, tmp_path: Path
) -> None:
    offline = ["--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}"]
    for settings in (orch_daemon.settings(), offline):
        too_many = cli("events", "--limit", "100000", *settings)
        assert too_many.returncode == 2
        assert "--limit: must be 1-1000, got '100000'" in too_many.stderr
        assert cli("events", "--limit", "1000", "--json", *settings).returncode == 0


def test_validate_says_where_each_setting_came_from(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("rules: [{name: mine, match: fluxora/test/*, run: backup}]\n")
    checked = cli("validate", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert "  1 rules: mine" in lines
    embedded = yaml.safe_load(EMBEDDED_DEFAULTS.read_text())["schedules"]
    assert lines[lines.index("  1 rules: mine") + 1].startswith(f"  {len(embedded)} schedules: ")
    assert f"  rules: {config}" in lines
    assert f"  schedules: embedded defaults ({EMBEDDED_DEFAULTS})" in lines
    assert "  data_dir: --data-dir" in lines


def test_the_cli_follows_a_job_across_a_daemon_restart(tmp_path: Path) -> None:
    """The CLI waits for a job that awaits approval; the daemon stops, the job is approved
    while it is down, and the restarted daemon (same address) runs it: the CLI keeps
    following (the store while the daemon is down) and exits 0 when the job completes."""
    config = write_config(tmp_path / "config.yaml")
    data, port = tmp_path / "data", free_port()

    def start() -> ServerProcess:
        return start_orchestrator(data, ["--config", str(config)], env=secret_env(),
                                  log_path=tmp_path / "orch.log", port=port)  # fmt: skip

    first = start()
    settings = Daemon(first, OrchClient(first.url), config, data).settings()
    follower = subprocess.Popen(
        [fluxora_orch(), "runbook", "run", "gated", "--param", "who=ops", *settings],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **secret_env()},
    )  # fmt: skip
    try:
        assert follower.stdout is not None
        waiting = follower.stdout.readline()  # "job ID: awaiting-approval (...)"
        job_id = waiting.split()[1].rstrip(":")
        assert terminate(first) == 0
        approved = cli("approve", job_id, *settings)  # to the store: no daemon answers
        assert approved.returncode == 0, approved.stderr
        second = start()
        try:
            out, err = follower.communicate(timeout=60)
        finally:
            terminate(second)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert f"job {job_id}: runbook gated in dev: completed" in out
    assert f"(Connection refused); following job {job_id} in its store" in err
    assert "answers again" in err
    assert "fluxora-orch: error" not in err


@pytest.fixture(scope="module")
def shipped_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon on the embedded dev rules and schedules and the shipped runbooks, configured
    with a database and an S3 object store that nothing answers for."""
    workdir = tmp_path_factory.mktemp("shipped")
    config = workdir / "config.yaml"
    ghost = {"host": "127.0.0.1", "port": free_port(), "dbname": "ghost"}
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = {"kind": "s3", "bucket": "fxt-ghost", "region": "eu-west-1",
             "endpoint_url": endpoint, "retry": {"attempts": 1}}  # fmt: skip
    databases = {"dev": {"fluxora": None, "ghost": ghost}}
    config.write_text(yaml.safe_dump({"databases": databases, "objectstore": store}))
    server = start_orchestrator(workdir / "data", ["--config", str(config)], env=secret_env(),
                                log_path=workdir / "orch.log", timeout=90)  # fmt: skip
    daemon = Daemon(server, OrchClient(server.url), config, workdir / "data")
    yield daemon
    daemon.stop()


def test_start_warns_about_what_it_cannot_reach_and_keeps_running(shipped_daemon: Daemon) -> None:
    def warnings() -> dict[str, dict[str, Any]]:
        lines = log_lines(shipped_daemon)
        return {line["target"]: line for line in lines if line.get("logger", "").endswith(
            "reachability") and line["level"] == "warning"}  # fmt: skip

    wait_until(lambda: len(warnings()) == 2, 30, "a warning for the database and the store")
    found, config = warnings(), shipped_daemon.config
    database = found["databases.dev.ghost"]["msg"]
    assert database.startswith("cannot reach database dev/ghost (postgres@127.0.0.1:")
    assert "Connection refused" in database
    assert database.endswith(
        f"; start it, or correct the setting (databases.dev.ghost in {config})"
    )
    bucket = found["objectstore.bucket"]["msg"]
    assert bucket.startswith("cannot reach object store (bucket fxt-ghost): ")
    assert bucket.endswith(f"(objectstore.bucket in {config})")
    assert shipped_daemon.client.get("/healthz") is not None  # still serving


def test_fifty_alerts_naming_unknown_databases_make_refusals_not_jobs(
    shipped_daemon: Daemon,
) -> None:
    client = shipped_daemon.client
    alerts = [alert("FluxoraBackupStale", env="dev", database=f"db{n}", kind="logical")
              for n in range(50)]  # fmt: skip
    answer = client.post_alerts(notification(alerts))
    assert answer.status == 202, answer.body
    decisions = [
        next(d for d in client.decided(event_id)["decisions"] if d["rule"] == "backup-when-stale")
        for event_id in answer.body["ids"]
    ]
    assert {d["decision"] for d in decisions} == {"rejected"}
    assert decisions[7]["reason"] == (
        "runbook 'backup': parameter 'database': 'db7' is not one of the configured databases "
        "(configured: ghost)"
    )
    assert client.get("/api/jobs?runbook=backup") == []
    assert 'database="db' not in client.metrics_text()


def test_following_gives_up_after_the_bound_with_what_it_last_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No daemon comes back: the CLI stops after RECONNECT_SECONDS with the job's status as its
    store last showed it, not a connection error."""
    config_path = write_config(tmp_path / "config.yaml")
    config = load_config(config_file=config_path, data_dir=tmp_path / "data",
                         listen=f"127.0.0.1:{free_port()}", environ={})  # fmt: skip
    with local(config) as here:
        job = here.run_request("fluxora/test/gated", {"who": "ops"}, lambda progress: None)
    assert job["status"] == "awaiting-approval"
    monkeypatch.setattr(requests, "RECONNECT_SECONDS", 1.0)
    with pytest.raises(DaemonError) as gave_up:
        requests.follow(config, job["id"])
    assert str(gave_up.value) == (
        f"the daemon at {requests.base_url(config)} has not answered for 1s; job {job['id']} "
        f"was awaiting-approval when last seen (`fluxora-orch job {job['id']}` shows it)"
    )


def test_the_salt_bus_is_checked_against_a_running_and_a_missing_master(
    tmp_path: Path, salt_master: Any
) -> None:
    gone = tmp_path / "master"
    gone.write_text(f"sock_dir: {tmp_path / 'sock'}\n")
    for master_config, expected in ((salt_master.config_file, []), (gone, ["salt.master_config"])):
        config = load_config(data_dir=tmp_path / "data", environ={})
        config = config.model_copy(update={"salt": SaltConfig(master_config=master_config)})
        failed = [item.target.key for item in reachability.unreachable(config)[1]
                  if item.target.key.startswith("salt")]  # fmt: skip
        assert failed == expected
