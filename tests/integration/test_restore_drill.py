"""The shipped `restore-drill` runbook on the real daemon and a real PostgreSQL: the newest
backup is restored into a scratch database and verified, RTO/RPO are recorded against the
targets, and the scratch database is gone afterwards, also when the verification fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.app.families import builtin_registry
from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.objectstore.base import ObjectStore
from orchestrator.objectstore.config import OBJECTSTORE
from tests.harness.backup import context_for, database_entry, load, scratch_database
from tests.harness.fluxora import Daemon, cli, secret_env, start_daemon
from tests.harness.postgres import PgPair

pytestmark = pytest.mark.integration
DRILL = {"runbook": "restore-drill", "env": "dev"}
EMBEDDED = yaml.safe_load(EMBEDDED_DEFAULTS.read_text())


@pytest.fixture
def drill_daemon(tmp_path: Path, pg_pair: PgPair) -> Iterator[tuple[Daemon, Path]]:
    """A daemon on the shipped runbooks with one database `app` (with a fresh backup)."""
    with scratch_database(pg_pair.primary) as name:
        config = {
            "data_dir": str(tmp_path / "data"),
            "databases": {"dev": {"app": database_entry(pg_pair.primary, name)}},
            "runbooks_dir": str(default_runbooks_dir()),
            # The shipped dev rules and schedules (a nightly restore drill among them).
            "rules": EMBEDDED["rules"],
            "schedules": EMBEDDED["schedules"],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        ctx = context_for(load(path))
        backup = builtin_registry().get("postgres.backup")
        backed_up = backup(ctx, backup.parse({"database": "app"}))
        assert backed_up.ok, backed_up.error
        daemon = start_daemon(tmp_path, config_path=path, data_dir=tmp_path / "data")
        try:
            yield daemon, path
        finally:
            daemon.stop()


def run_drill(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    result = cli(
        "runbook", "run", "restore-drill", "--env", "dev", "--param", "database=app",
        "--json", *daemon.settings(), env=secret_env(),
    )  # fmt: skip
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def scratch_databases(pair: PgPair) -> list[str]:
    out = pair.primary.psql("SELECT datname FROM pg_database WHERE datname LIKE 'fluxora_verify_%'")
    return [line for line in out.split() if line.startswith("fluxora_verify_")]


def test_restore_drill_restores_verifies_and_records_rto_rpo(
    drill_daemon: tuple[Daemon, Path], pg_pair: PgPair
) -> None:
    daemon, _ = drill_daemon
    code, job = run_drill(daemon)
    assert code == 0, json.dumps(job["journal"])[:3000]
    journal = job["journal"]
    (step,) = [s for s in journal["steps"] if s["phase"] == "step"]
    assert step["output"]["tables_checked"] > 0
    dr = journal["extensions"]["dr"]
    assert dr["source"] == "wall time"
    assert 0 < dr["rpo_seconds"] < 600  # the backup was taken just before
    assert dr["verdicts"] == {"rto": "met", "rpo": "met"}
    assert scratch_databases(pg_pair) == []
    assert daemon.client.sample("fluxora_drill_last_status", **DRILL) == 1
    assert daemon.client.sample("fluxora_drill_rpo_seconds", **DRILL) == dr["rpo_seconds"]
    assert daemon.client.sample("fluxora_drill_rpo_target_seconds", **DRILL) == 26 * 3600
    # From the shipped nightly schedule, through the drill-on-schedule rule:
    assert daemon.client.sample("fluxora_drill_interval_seconds", **DRILL) == 86400
    # The backup runbook has an RPO target but is no drill: no drill series for it.
    assert 'runbook="backup"' not in _drill_series(daemon)


def test_a_failed_verification_fails_the_drill_and_leaves_no_scratch(
    drill_daemon: tuple[Daemon, Path], pg_pair: PgPair
) -> None:
    daemon, path = drill_daemon
    store: ObjectStore = context_for(load(path)).resource(OBJECTSTORE)
    keys = [o.key for o in store.list_objects() if o.key.endswith("/manifest.json")]
    (key,) = keys
    manifest = json.loads(store.read_bytes(key))
    manifest["tables"]["public.meters"]["rows"] += 1  # the restore happens, the comparison fails
    store.put_bytes(key, json.dumps(manifest).encode())
    code, job = run_drill(daemon)
    assert code == 1
    assert job["status"] == "failed"
    assert "table public.meters: 50 rows restored, manifest says 51" in str(job["journal"])
    assert scratch_databases(pg_pair) == []
    assert daemon.client.sample("fluxora_drill_last_status", **DRILL) == 0


def _drill_series(daemon: Daemon) -> str:
    text = daemon.client.metrics_text()
    return "\n".join(line for line in text.splitlines() if line.startswith("fluxora_drill_"))
