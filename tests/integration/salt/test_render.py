"""Every host of every environment renders its highstate; a missing key says which and where."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app import wiring
from orchestrator.app.config import load_config
from orchestrator.families.backup.hooks import scheduled_work
from tests.harness.pillar import SecretPillar
from tests.harness.salt import SALT_DIR
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import ENVIRONMENTS, HOSTS, states_of, topology

pytestmark = pytest.mark.integration

ROLE_MARKERS = {
    "postgres-primary": "fluxora-postgres-primary-cluster-cmd-run",
    "postgres-replica": "fluxora-postgres-replica-clone-cmd-run",
    "redis": "fluxora-redis-config-file-managed",
    "monitoring": "fluxora-monitoring-server-config-prometheus-file-managed",
    "orchestrator": "fluxora-orchestrator-config-file-serialize",
    "cloud": "aws-orchestrator_role-fluxora_iam-role_present",
}


@pytest.mark.parametrize(("env", "host"), HOSTS, ids=[f"{e}-{h}" for e, h in HOSTS])
def test_highstate_renders_with_each_hosts_roles(
    highstates: dict[tuple[str, str], Any], env: str, host: str
) -> None:
    rendered = highstates[(env, host)]
    assert isinstance(rendered, dict), f"{env}/{host} did not render: {rendered}"
    assert "fluxora-common-grains-env-grains-present" in rendered
    for role, marker in ROLE_MARKERS.items():
        assert (marker in rendered) == (role in topology(env)[host]), (role, marker)


def test_every_environment_has_every_role(highstates: dict[tuple[str, str], Any]) -> None:
    for env in ENVIRONMENTS:
        roles = {role for host_roles in topology(env).values() for role in host_roles}
        expected = set(ROLE_MARKERS) - ({"cloud"} if env == "dev" else set())
        assert roles == expected, env


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_orchestrator_config_loads_with_the_daemon_schema(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    (host,) = [h for h, roles in topology(env).items() if "orchestrator" in roles]
    state = states_of(highstates[(env, host)], "file")["fluxora-orchestrator-config-file-serialize"]
    config_file = tmp_path / "orchestrator.yml"
    config_file.write_text(yaml.safe_dump(state["dataset"]))
    config = load_config(config_file=config_file, environ={})
    assert config.env == env
    assert config.data_dir == Path("/var/lib/fluxora/orchestrator")
    # Pillar is the single source of truth: schedules and rules load against the shipped
    # runbooks, the database to back up is the primary's, and staging/prod use their S3 bucket.
    definitions = wiring.definitions(config)
    runs = wiring.scheduled_runs(config, definitions)
    work = {(w.runbook, w.database, w.kind) for w in scheduled_work(runs, config.rules_source)}
    assert {("backup", "fluxora", "logical"), ("restore-verify", "fluxora", "logical")} <= work
    assert {rule.spec.name for rule in definitions.rules} >= {"backup-on-schedule"}
    database = config.databases[env]["fluxora"]
    assert (database.user, database.production) == ("fluxora_backup", env == "prod")
    assert database.password_file == Path("/etc/fluxora/backup-password")
    password = states_of(highstates[(env, host)], "file")[
        "fluxora-orchestrator-config-backup-password-file-managed"
    ]
    assert (password["name"], password["mode"]) == (str(database.password_file), "0640")
    token = config.alertmanager.token
    assert token is not None, "Alertmanager's bearer token (fluxora:monitoring) reaches the daemon"
    assert state["show_changes"] is False, "the config holds a secret: no diff in Salt's output"
    assert config.objectstore.kind == ("local" if env == "dev" else "s3")
    if env != "dev":
        assert config.objectstore.bucket == f"fluxora-{env}-backups"
        assert config.objectstore.dr is not None
        assert config.objectstore.dr.bucket == f"fluxora-{env}-backups-dr"
    groups = config.scaling.groups
    assert all(name.startswith(f"fluxora-{env}-") and p.env == env for name, p in groups.items())
    assert (f"fluxora-{env}-worker" in groups) == (env != "dev")


# --- bad input: a pillar missing a required key ---------------------------------------------------


def _pillar_without(
    tmp_path: Path, test_pillar: SecretPillar, env: str, drop: list[str], secrets: bool = True
) -> list[Path]:
    """Pillar roots where `env`'s file lacks the dotted key `drop` (and maybe its secrets)."""
    root = tmp_path / "pillar"
    data = yaml.safe_load((SALT_DIR / "pillar" / "fluxora" / f"{env}.sls").read_text())
    node = data
    for part in drop[:-1]:
        node = node[part]
    del node[drop[-1]]
    (root / "fluxora").mkdir(parents=True)
    (root / "fluxora" / f"{env}.sls").write_text(yaml.safe_dump(data))
    if secrets:
        shutil.copytree(test_pillar.root / "fluxora" / "secrets", root / "fluxora" / "secrets")
    return [root, SALT_DIR / "pillar"]


@pytest.mark.parametrize(
    "case",
    [
        (
            "staging",
            "stg-ops-1",
            ["fluxora", "aws", "dns"],
            True,
            "pillar key 'fluxora:aws:dns:zone' is required for environment 'staging'",
        ),
        (
            "prod",
            "prd-ops-1",
            ["fluxora", "scaling"],
            True,
            "pillar key 'fluxora:scaling:groups' is required for environment 'prod'",
        ),
        (
            "prod",
            "prd-ops-1",
            ["fluxora", "aws", "buckets", "artifacts"],
            True,
            "pillar key 'fluxora:aws:buckets:artifacts:name' is required for environment 'prod'",
        ),
        (
            "prod",
            "prd-db-2",
            ["fluxora", "tags"],
            False,
            "pillar key 'fluxora:postgres:replication:password' is required for environment 'prod'",
        ),
    ],
    ids=[
        "staging-dns-zone",
        "prod-scaling",
        "prod-no-artifacts-bucket",
        "prod-secrets-file-missing",
    ],
)
def test_missing_required_key_names_key_and_environment(
    local_minion_factory: Callable[..., LocalMinion],
    test_pillar: SecretPillar,
    tmp_path: Path,
    case: tuple[str, str, list[str], bool, str],
) -> None:
    env, host, drop, secrets, message = case
    roots = _pillar_without(tmp_path, test_pillar, env, drop, secrets)
    minion = local_minion_factory(env, host, topology(env)[host], pillar_roots=roots)
    errors = minion.call("state.show_highstate", check=False)
    assert isinstance(errors, list), "rendering should have failed"
    text = "\n".join(errors)
    assert message in text
    assert "Traceback" not in text
