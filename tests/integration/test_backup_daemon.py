"""Backups wired into the daemon: schedules -> rules -> the shipped runbooks -> postgres actions,
metrics on the daemon's /metrics, and last-success gauges restored from the catalog at start."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.families.backup.catalog import list_backups, read_verification
from orchestrator.objectstore.local import LocalObjectStore
from tests.harness.backup import database_entry, scheduled_backups, scratch_database
from tests.harness.fluxora import Daemon, OrchClient, cli, secret_env, start_daemon, write_config
from tests.harness.orchestrator import start_orchestrator, terminate
from tests.harness.postgres import PgPair
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

LABELS = {"env": "dev", "database": "app", "kind": "logical"}


@pytest.fixture
def app_db(pg_pair: PgPair) -> Iterator[dict[str, object]]:
    with scratch_database(pg_pair.primary) as name:
        yield {"app": database_entry(pg_pair.primary, name)}


def _verified_and_backed_up(client: OrchClient) -> bool:
    return (
        client.sample("fluxora_restore_verify_last_status", **LABELS) == 1
        and client.sample("fluxora_backup_last_success_timestamp_seconds", **LABELS) > 0
    )


def test_scheduled_backups_run_as_jobs_and_their_gauges_survive_a_restart(
    tmp_path: Path, app_db: dict[str, object]
) -> None:
    daemon = start_daemon(
        tmp_path, shutdown_grace_seconds=5, **scheduled_backups(app_db, every="2s")
    )
    try:
        client = daemon.client
        assert client.sample("fluxora_backup_interval_seconds", **LABELS) == 2
        assert client.sample("fluxora_restore_verify_interval_seconds", **LABELS) == 2
        wait_until(lambda: _verified_and_backed_up(client), 120, "a scheduled backup and verify")
        completed = {"env": "dev", "status": "completed"}
        assert client.sample("fluxora_jobs_total", runbook="backup", **completed) >= 1
        assert client.sample("fluxora_jobs_total", runbook="restore-verify", **completed) >= 1
        assert client.sample("fluxora_backup_size_bytes", **LABELS) > 0
    finally:
        assert daemon.stop() == 0

    store = LocalObjectStore(daemon.data_dir / "objects")
    newest = list_backups(store, "dev", "app")[0]
    passed = [v for m in list_backups(store, "dev", "app") if (v := read_verification(store, m))]
    passed = [v for v in passed if v.ok]
    # Hourly schedules: nothing runs after the restart; the gauges come from the catalog.
    config = write_config(
        tmp_path / "restart.yaml", **scheduled_backups(app_db, every="1h", verify_every="1h")
    )
    again: Daemon = start_daemon(tmp_path, config_path=config, data_dir=daemon.data_dir)
    try:
        client = again.client
        assert client.sample("fluxora_backup_last_success_timestamp_seconds", **LABELS) == (
            newest.finished_at.timestamp()
        )
        assert client.sample("fluxora_backup_size_bytes", **LABELS) == newest.stored_size
        assert client.sample("fluxora_restore_verify_last_status", **LABELS) == 1
        newest_pass = max(v.verified_at for v in passed).timestamp()
        assert client.sample(
            "fluxora_restore_verify_last_success_timestamp_seconds", **LABELS
        ) == pytest.approx(newest_pass)
        assert client.sample("fluxora_backup_interval_seconds", **LABELS) == 3600
    finally:
        assert again.stop() == 0


def test_cli_backup_and_restore_verify_run_as_daemon_jobs_unless_local(
    tmp_path: Path, app_db: dict[str, object]
) -> None:
    daemon = start_daemon(tmp_path, **scheduled_backups(app_db, every="1h"))
    try:

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return cli(*args, *daemon.settings(), env=secret_env())

        backed_up = run("backup", "--database", "app")
        assert backed_up.returncode == 0, backed_up.stderr
        assert "of dev/app (logical):" in backed_up.stdout
        assert "backup: job " in backed_up.stderr
        # It ran in the daemon: its metrics and its job list know it.
        client = daemon.client
        assert client.sample("fluxora_backup_last_success_timestamp_seconds", **LABELS) > 0
        (job,) = client.get("/api/jobs?runbook=backup")
        assert (job["rule"], job["status"]) == ("runbook-request", "completed")

        verified = run("restore-verify", "--json")
        assert verified.returncode == 0, verified.stderr
        (result,) = json.loads(verified.stdout)
        assert (result["ok"], result["database"], result["tables_checked"]) == (True, "app", 4)
        assert client.sample("fluxora_restore_verify_last_status", **LABELS) == 1

        unknown = run("backup", "--database", "nosuch")
        assert unknown.returncode == 1
        assert (
            "  runbook-request: rejected: runbook 'backup': parameter 'database': 'nosuch' is "
            "not one of the configured databases (configured: app, fluxora)"
        ) in unknown.stderr.splitlines()
        assert 'database="nosuch"' not in client.metrics_text()  # no job, no series

        local = run("backup", "--database", "app", "--local")
        assert local.returncode == 0, local.stderr
        assert "job " not in local.stderr  # not requested from the daemon
        # Run here, but through the same rules into the same store: a job like the others.
        newest, *_ = jobs = client.get("/api/jobs?runbook=backup")
        assert len(jobs) == 2  # the refused request for `nosuch` made none
        assert (newest["rule"], newest["status"]) == ("runbook-request", "completed")
    finally:
        assert daemon.stop() == 0
    # With the daemon gone, the same command runs in this process and says so.
    alone = cli("backup", "--database", "app", *daemon.settings(), env=secret_env())
    assert alone.returncode == 0, alone.stderr
    assert f"note: no daemon at {daemon.server.url}; running in this process" in alone.stderr


def test_embedded_defaults_start_cleanly_with_the_backup_schedules(tmp_path: Path) -> None:
    # What scripts/run starts: no config file, a fresh data directory.
    server = start_orchestrator(tmp_path / "data", log_path=tmp_path / "orch.log")
    try:
        client = OrchClient(server.url)
        dev = {"env": "dev", "database": "fluxora", "kind": "logical"}
        assert client.sample("fluxora_backup_interval_seconds", **dev) == 86400
        assert client.sample("fluxora_restore_verify_interval_seconds", **dev) == 86400
        wait_until(lambda: "schedule leader" in (tmp_path / "orch.log").read_text(), 30, "leader")
    finally:
        assert terminate(server) == 0
    records = [json.loads(line) for line in (tmp_path / "orch.log").read_text().splitlines()]
    assert [r for r in records if r["level"] in ("error", "critical")] == []


def test_a_backup_schedule_without_a_database_fails_validate_and_run(tmp_path: Path) -> None:
    config = scheduled_backups({}, every="1h")
    config["schedules"] = [{"name": "backup-all", "interval": "1d", "data": {"kind": "logical"}}]
    path = write_config(tmp_path / "bad.yaml", **config)
    error = "schedule 'backup-all': data.database: the backup runbook runs on this schedule"
    for command in ("validate", "run"):
        done = cli(command, "--config", str(path), "--data-dir", str(tmp_path / "data"))
        assert done.returncode == 1, command
        assert error in done.stderr, done.stderr


def test_cli_without_the_webhook_secret_names_it_and_local(
    tmp_path: Path, app_db: dict[str, object]
) -> None:
    daemon = start_daemon(tmp_path, **scheduled_backups(app_db, every="1h"))
    try:
        done = cli("backup", "--database", "app", *daemon.settings(), env={})
    finally:
        assert daemon.stop() == 0
    assert done.returncode == 1
    assert "takes requests signed with the webhook secret" in done.stderr
    assert "--local" in done.stderr
