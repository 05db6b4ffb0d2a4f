"""Point-in-time recovery in the rendered daemon config of staging and prod: `backup.pitr.<env>`
comes from the pillar that configures the WAL archive (the config fluxora.walarchive writes on
the database hosts), the base-backup schedule from the shape both share (fleet.sls), and
`fluxora-orch validate` of each environment's rendered config passes; without the pitr section,
the scheduled base backup is reported missing its config."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app import wiring
from orchestrator.app.config import load_config
from orchestrator.app.requirements import missing_resources
from orchestrator.core.events import utcnow
from tests.harness.pillar import SecretPillar
from tests.harness.salt import SALT_DIR
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import (
    ENVIRONMENTS,
    config_file_of,
    orchestrator_config_state,
    states_of,
    topology,
)

pytestmark = [pytest.mark.integration, pytest.mark.validate]
FLEET = ("staging", "prod")


def walarchive_config(highstates: dict[tuple[str, str], Any], env: str, host: str) -> Any:
    """/etc/fluxora/wal-archive.json as fluxora.walarchive writes it on `host`."""
    state = states_of(highstates[(env, host)], "file")["fluxora-walarchive-config-file-serialize"]
    return state["dataset"]


def members(env: str) -> list[str]:
    roles = ("postgres-primary", "postgres-replica")
    return [h for h, r in topology(env).items() if any(role in r for role in roles)]


@pytest.mark.parametrize("env", FLEET)
def test_pitr_is_the_wal_archive_of_the_database_hosts(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    config = load_config(config_file=config_file_of(highstates, env, tmp_path), environ={})
    pitr = config.backup.pitr[env]
    for host in members(env):
        archive = walarchive_config(highstates, env, host)
        assert pitr.server_name == archive["server_name"] == f"fluxora-{env}"
        by_name = {d["name"]: d for d in archive["destinations"]}
        assert (pitr.archive.url, pitr.archive.region) == (
            by_name["primary"]["url"], by_name["primary"]["region"],
        )  # fmt: skip
        assert pitr.dr_archive is not None
        assert (pitr.dr_archive.url, pitr.dr_archive.region) == (
            by_name["dr"]["url"], by_name["dr"]["region"],
        )  # fmt: skip
    assert pitr.archive.url == f"s3://fluxora-{env}-backups/wal"
    assert pitr.dr_archive.url == f"s3://fluxora-{env}-backups-dr/wal"
    # Base backups on the Patroni leader's host, through its minion; the daemon reads the
    # archive as its own user and restores nothing on its host (it runs no PostgreSQL).
    assert (pitr.database, pitr.cluster) == ("fluxora", "main")
    nodes = config.postgres_clusters[env]["main"].nodes
    assert {n: nodes[n].minion for n in members(env)} == {h: h for h in members(env)}
    assert pitr.run_as is None
    assert pitr.local_restores is False
    assert (pitr.recovery_window_days, pitr.min_base_backups) == (7, 2)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_base_backups_are_scheduled_where_pitr_is_configured(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    config = load_config(config_file=config_file_of(highstates, env, tmp_path), environ={})
    definitions = wiring.definitions(config)
    runs = wiring.scheduled_runs(config, definitions)
    scheduled = {run.runbook for run in runs}
    assert ("base-backup" in scheduled) == (env in FLEET), scheduled
    assert (env in config.backup.pitr) == (env in FLEET)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate_passes_on_each_rendered_config(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    path = config_file_of(highstates, env, tmp_path)
    fluxora_orch = Path(sys.executable).with_name("fluxora-orch")
    argv = [str(fluxora_orch), "validate", "--json", "--config", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout)
    assert (answer["ok"], answer["env"]) == (True, env)
    assert ("base-backup" in answer["schedules"]) == (env in FLEET)


def test_a_scheduled_base_backup_without_pitr_config_is_reported(
    highstates: dict[tuple[str, str], Any], tmp_path: Path
) -> None:
    dataset = orchestrator_config_state(highstates, "staging")["dataset"]
    without = {**dataset, "backup": {k: v for k, v in dataset["backup"].items() if k != "pitr"}}
    path = tmp_path / "orchestrator.yml"
    path.write_text(yaml.safe_dump(without))
    config = load_config(config_file=path, environ={})
    problems = missing_resources(config, wiring.definitions(config), utcnow())
    assert any("base-backup" in p and "needs backup.pitr.staging" in p for p in problems), problems


def test_an_archive_without_a_primary_destination_names_the_key(
    local_minion_factory: Callable[..., LocalMinion], test_pillar: SecretPillar, tmp_path: Path
) -> None:
    """backup.pitr needs the archive base backups go to: a WAL archive with only a DR
    destination fails the orchestrator host's render naming the pillar key."""
    root = tmp_path / "pillar"
    data = yaml.safe_load((SALT_DIR / "pillar" / "fluxora" / "staging.sls").read_text())
    dr_only = {"name": "dr", "url": "s3://fluxora-staging-backups-dr/wal", "region": "eu-central-1"}
    data["fluxora"]["walarchive"] = {"destinations": [dr_only]}
    (root / "fluxora").mkdir(parents=True)
    (root / "fluxora" / "staging.sls").write_text(yaml.safe_dump(data))
    shutil.copytree(test_pillar.root / "fluxora" / "secrets", root / "fluxora" / "secrets")
    host = "stg-ops-1"
    minion = local_minion_factory(
        "staging", host, topology("staging")[host], pillar_roots=[root, SALT_DIR / "pillar"]
    )
    errors = minion.call("state.show_highstate", check=False)
    assert isinstance(errors, list), "rendering should have failed"
    text = "\n".join(errors)
    assert "pillar key 'fluxora:walarchive:destinations' of environment 'staging'" in text
    assert "no destination named 'primary'" in text
    assert "Traceback" not in text
