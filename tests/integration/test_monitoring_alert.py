"""End to end: a backup schedule that starts failing -> Prometheus (shipped rules) raises
FluxoraBackupStale -> the real Alertmanager (shipped route) delivers it to the orchestrator's
/alertmanager with the bearer token -> the orchestrator records the event and the decision of
the shipped `backup-when-stale` rule, which `fluxora-orch explain` shows."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.backup import database_entry, scheduled_backups, scratch_database
from tests.harness.fluxora import TOKEN, Daemon, cli, start_daemon
from tests.harness.monitoring import MonitoringStack, Timing
from tests.harness.postgres import PgPair
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

LABELS = {"env": "dev", "database": "app", "kind": "logical"}
STALE = "fluxora/alert/FluxoraBackupStale/firing"


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def _stale_events(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon's FluxoraBackupStale events, oldest first."""
    query = urllib.parse.urlencode({"tag": STALE})
    return list(reversed(daemon.client.get(f"/api/events?{query}")))


def test_a_failing_backup_schedule_reaches_the_orchestrator_as_an_alert_and_a_decision(
    tmp_path: Path, pg_pair: PgPair, monitoring_stack: Callable[..., MonitoringStack]
) -> None:
    with scratch_database(pg_pair.primary) as dbname:
        config = scheduled_backups(
            {"app": database_entry(pg_pair.primary, dbname)}, every="2s", verify_every="1h"
        )
        daemon = start_daemon(tmp_path, shutdown_grace_seconds=5, **config)
        try:
            _run(daemon, pg_pair, dbname, tmp_path, monitoring_stack)
        finally:
            daemon.stop()


def _run(
    daemon: Daemon,
    pg_pair: PgPair,
    dbname: str,
    tmp_path: Path,
    monitoring_stack: Callable[..., MonitoringStack],
) -> None:
    client = daemon.client
    last_success = "fluxora_backup_last_success_timestamp_seconds"
    wait_until(lambda: client.sample(last_success, **LABELS) > 0, 60, "a first good backup")
    # The database goes away: every scheduled backup fails from now on.
    pg_pair.primary.psql(f"DROP DATABASE {dbname} WITH (FORCE)")
    failures = client.sample("fluxora_backup_failures_total", **LABELS)
    wait_until(
        lambda: client.sample("fluxora_backup_failures_total", **LABELS) > failures,
        60,
        "a failed scheduled backup",
    )
    good = client.sample(last_success, **LABELS)

    stack = monitoring_stack(
        targets={"fluxora-orchestrator": [urllib.parse.urlsplit(daemon.server.url).netloc]},
        labels={"env": "dev"},
        orchestrator_url=daemon.server.url,
        token_file=_token_file(tmp_path),
        alert_for={"FluxoraBackupStale": "0s"},
        # Re-sent every 2 s: a delivery that arrives while a scheduled backup holds the lock
        # is `blocked:lock`, and the next one fires.
        timing=Timing(repeat_interval="2s"),
    )
    (fired,) = stack.prometheus_api.wait_for_firing("FluxoraBackupStale", timeout=90)[:1]
    assert {k: fired["labels"][k] for k in LABELS} == LABELS
    wait_until(lambda: _fired(daemon) is not None, 90, "the alert firing the stale rule")
    fired_by = _fired(daemon)
    assert fired_by is not None
    first, decision = fired_by
    assert first["source"] == "alertmanager"
    assert first["data"]["labels"]["alertname"] == "FluxoraBackupStale"
    job = client.finished_job(decision["job_id"], timeout=60)
    assert (job["runbook"], job["status"], job["params"]) == (
        "backup",
        "failed",
        {"database": "app", "kind": "logical"},
    )
    (step,) = job["journal"]["steps"]
    assert "backup of dev/app (logical) failed: " in step["error"]
    assert dbname in step["error"], "the reason names the missing database"
    assert client.sample(last_success, **LABELS) == good, "a failure moved the last success"

    explained = cli("explain", first["id"], *daemon.settings())
    assert explained.returncode == 0, explained.stderr
    assert f"backup-when-stale: fired job {decision['job_id']}" in explained.stdout
    as_json = cli("explain", first["id"], "--json", *daemon.settings())
    assert json.loads(as_json.stdout)["decisions"] == first["decisions"]


def _fired(daemon: Daemon) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first stale-alert event whose backup-when-stale decision fired, and that decision;
    every earlier one was blocked by the lock of a scheduled backup then running."""
    for event in _stale_events(daemon):
        explained = daemon.client.decided(event["id"])
        (decision,) = [d for d in explained["decisions"] if d["rule"] == "backup-when-stale"]
        if decision["decision"] == "fired":
            return explained, decision
        assert decision["decision"] == "blocked:lock", decision
        assert "is held by job" in decision["reason"]
    return None
