"""Every host of every environment renders its highstate; a missing key says which and where."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from orchestrator.app import wiring
from orchestrator.app.config import load_config
from orchestrator.app.requirements import missing_resources
from orchestrator.core.events import utcnow
from orchestrator.families.backup.hooks import scheduled_work
from tests.harness.pillar import PATRONI_REST, SecretPillar
from tests.harness.salt import SALT_DIR
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import (
    ENVIRONMENTS,
    HOSTS,
    call_on_every_host,
    config_file_of,
    orchestrator_config_state,
    states_of,
    topology,
)

pytestmark = [pytest.mark.integration, pytest.mark.validate]

ROLE_MARKERS = {
    "postgres-primary": "fluxora-postgres-primary-config-file-serialize",
    "postgres-replica": "fluxora-postgres-replica-config-file-serialize",
    "etcd": "fluxora-etcd-service-data-file-directory",
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
    roles = {STANDALONE_AS.get(role, role) for role in topology(env)[host]}
    for role, marker in ROLE_MARKERS.items():
        assert (marker in rendered) == (role in roles), (role, marker)


# A scratch restore server and the DR region's database server are standalone clusters: the
# primary's states.
STANDALONE_AS = {"postgres-restore": "postgres-primary", "postgres-dr": "postgres-primary"}
FLEET_ONLY = {
    "cloud": ("staging", "prod"),
    "postgres-dr": ("staging", "prod"),
    "postgres-restore": ("prod",),
}


def test_every_environment_has_every_role(highstates: dict[tuple[str, str], Any]) -> None:
    for env in ENVIRONMENTS:
        roles = {role for host_roles in topology(env).values() for role in host_roles}
        expected = set(ROLE_MARKERS) | set(FLEET_ONLY)
        expected -= {role for role, envs in FLEET_ONLY.items() if env not in envs}
        assert roles == expected, env


# The roles whose hosts a deploy's verification checks (fluxora.verify's built-in health check
# of each role; `cloud` is the AWS states, verified by their own re-apply).
CHECKED_ROLES = {
    "postgres-primary", "postgres-replica", "postgres-restore", "postgres-dr", "etcd", "redis",
    "monitoring", "orchestrator",
}  # fmt: skip


@pytest.fixture(scope="module")
def verify_checks(
    local_minion_factory: Callable[..., LocalMinion],
) -> dict[tuple[str, str], dict[str, str]]:
    """(env, host) -> {state id: command} of `state.show_sls fluxora.verify`."""
    rendered = call_on_every_host(local_minion_factory, "state.show_sls", "fluxora.verify")
    for key, states in rendered.items():
        assert isinstance(states, dict), f"{key}: fluxora.verify did not render: {states}"
    return {
        key: {state_id: args["name"] for state_id, args in states_of(states, "cmd").items()}
        for key, states in rendered.items()
    }


@pytest.mark.parametrize(("env", "host"), HOSTS, ids=[f"{e}-{h}" for e, h in HOSTS])
def test_a_deploy_verifies_each_role_of_a_host_with_no_secret_in_its_checks(
    verify_checks: dict[tuple[str, str], dict[str, str]],
    test_pillar: SecretPillar,
    env: str,
    host: str,
) -> None:
    checks = verify_checks[(env, host)]
    checked = {
        role
        for state_id in checks
        for role in CHECKED_ROLES
        if state_id.startswith(f"fluxora-verify-{role}-")
    }
    assert checked == set(topology(env)[host]) & CHECKED_ROLES, checks
    secrets = [value for values in test_pillar.values.values() for value in values.values()]
    leaked = [state_id for state_id, cmd in checks.items() if any(v in cmd for v in secrets)]
    assert not leaked, leaked


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_orchestrator_config_loads_with_the_daemon_schema(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    (host,) = [h for h, roles in topology(env).items() if "orchestrator" in roles]
    state = orchestrator_config_state(highstates, env)
    config = load_config(config_file=config_file_of(highstates, env, tmp_path), environ={})
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
    # Every runbook a schedule or a rule starts finds its resources (`fluxora-orch validate`).
    assert missing_resources(config, definitions, utcnow()) == []


def _hosts(env: str, role: str) -> dict[str, str]:
    """host -> address of every host of `env` with `role`."""
    data = yaml.safe_load((SALT_DIR / "pillar" / "fluxora" / f"{env}.sls").read_text())
    hosts = data["fluxora"]["topology"]["hosts"]
    return {h: spec.get("address") for h, spec in sorted(hosts.items()) if role in spec["roles"]}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_failover_topology_and_regions_come_from_the_postgres_pillar(
    highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    config = load_config(config_file=config_file_of(highstates, env, tmp_path), environ={})
    cluster = config.postgres_clusters[env]["main"]
    primary, replica, dr = (
        _hosts(env, r) for r in ("postgres-primary", "postgres-replica", "postgres-dr")
    )
    assert {n: node.host for n, node in cluster.nodes.items()} == {**primary, **replica, **dr}
    assert cluster.home == next(iter(primary))
    assert cluster.dr_node == next(iter(dr))
    assert config.databases[env]["fluxora"].host == next(iter(primary.values()))
    assert (config.aws.region, config.aws.dr_region) == ("eu-west-1", "eu-central-1")
    # Patroni members: the orchestrator's node names are Patroni's, its REST API at the address
    members = {n: node.patroni_url for n, node in cluster.nodes.items() if node.patroni_url}
    assert members == {n: f"http://{a}:8008" for n, a in {**primary, **replica}.items()}
    assert cluster.node(next(iter(dr))).patroni_url is None  # a standalone server of its own
    replica_host = next(iter(replica))
    patroni = patroni_config(highstates, env, replica_host, "replica")
    assert patroni["postgresql"]["connect_address"] == f"{replica[replica_host]}:5432"
    assert patroni["postgresql"]["parameters"]["archive_mode"] == "on"  # fluxora.walarchive
    targets = config.backup.restore_targets
    if env == "prod":
        (restore_address,) = _hosts(env, "postgres-restore").values()
        assert targets["prod"].host == restore_address
    else:
        assert targets == {}


def patroni_config(highstates: dict[tuple[str, str], Any], env: str, host: str,
                   role: str) -> dict[str, Any]:  # fmt: skip
    files = states_of(highstates[(env, host)], "file")
    state = files[f"fluxora-postgres-{role}-config-file-serialize"]
    assert (state["mode"], state["show_changes"]) == ("0600", False)  # passwords inside
    return dict(state["dataset"])


def test_staging_runs_patroni_on_three_etcd_members_with_the_measured_timings(
    highstates: dict[tuple[str, str], Any],
) -> None:
    primary = patroni_config(highstates, "staging", "stg-db-1", "primary")
    replica = patroni_config(highstates, "staging", "stg-db-2", "replica")
    assert (primary["scope"], primary["name"], replica["name"]) == (
        "fluxora", "stg-db-1", "stg-db-2")  # fmt: skip
    assert primary["etcd3"]["hosts"] == ["10.20.1.11:2379", "10.20.1.12:2379", "10.20.3.11:2379"]
    dcs = primary["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (8, 1, 3)
    assert dcs["synchronous_mode"] is True
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert replica["restapi"]["connect_address"] == "10.20.1.12:8008"  # its topology address
    assert "host replication replicator 10.20.1.0/24 scram-sha-256" in primary["postgresql"][
        "pg_hba"]  # fmt: skip
    assert primary["postgresql"]["parameters"]["wal_log_hints"] == "on"  # pg_rewind needs it


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_patroni_rest_changes_need_a_password_only_postgres_and_orchestrator_hosts_have(
    highstates: dict[tuple[str, str], Any], test_pillar: SecretPillar, env: str
) -> None:
    password = test_pillar.values[env][PATRONI_REST]
    for host, roles in topology(env).items():
        sides = [r.split("-")[1] for r in roles if r in ("postgres-primary", "postgres-replica")]
        for side in sides:
            auth = patroni_config(highstates, env, host, side)["restapi"]["authentication"]
            assert auth == {"username": "fluxora-patroni", "password": password}
        holders = {"postgres-primary", "postgres-replica", "postgres-restore", "postgres-dr"}
        if not holders.intersection(roles) and "orchestrator" not in roles:
            assert password not in repr(highstates[(env, host)]), f"{env}/{host} has it"
    # The orchestrator sends it, read from a 0640 file: never in its config.
    (host,) = [h for h, roles in topology(env).items() if "orchestrator" in roles]
    files = states_of(highstates[(env, host)], "file")
    secret = files["fluxora-orchestrator-config-patroni-password-file-managed"]
    assert (secret["contents"], secret["mode"], secret["show_changes"]) == (password, "0640", False)
    config = orchestrator_config_state(highstates, env)["dataset"]
    assert password not in repr(config)
    (cluster,) = config["postgres_clusters"][env].values()
    assert cluster["patroni"]["username"] == "fluxora-patroni"
    assert cluster["patroni"]["password_file"] == secret["name"]


def test_a_dr_server_is_a_patroni_cluster_of_its_own_on_raft(
    highstates: dict[tuple[str, str], Any],
) -> None:
    dr = patroni_config(highstates, "prod", "prd-dr-db-1", "primary")
    assert (dr["scope"], dr["name"]) == ("fluxora-prd-dr-db-1", "prd-dr-db-1")
    assert "etcd3" not in dr  # never a member of the production cluster
    assert dr["raft"]["self_addr"] == "127.0.0.1:5010"
    assert "archive_mode" not in dr["postgresql"]["parameters"]


def test_dev_runs_both_members_and_one_etcd_member_on_one_host(
    highstates: dict[tuple[str, str], Any],
) -> None:
    primary = patroni_config(highstates, "dev", "dev-1", "primary")
    replica = patroni_config(highstates, "dev", "dev-1", "replica")
    assert (primary["name"], replica["name"]) == ("fluxora-a", "fluxora-b")
    assert primary["etcd3"]["hosts"] == replica["etcd3"]["hosts"] == ["127.0.0.1:2379"]
    assert {primary["postgresql"]["listen"], replica["postgresql"]["listen"]} == {
        "127.0.0.1:5433", "127.0.0.1:5434"}  # fmt: skip


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
        (
            "prod",
            "prd-ops-1",
            ["fluxora", "redis"],
            False,
            "pillar key 'fluxora:postgres:backup:password' is required for environment 'prod'",
        ),
    ],
    ids=[
        "staging-dns-zone",
        "prod-scaling",
        "prod-no-artifacts-bucket",
        "prod-secrets-file-missing",
        "prod-orchestrator-secrets-missing",
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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_orchestrator_service_gets_its_file_handle_limit(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    (host,) = [h for h, roles in topology(env).items() if "orchestrator" in roles]
    unit = states_of(highstates[(env, host)], "file")[
        "fluxora-orchestrator-service-unit-file-managed"
    ]
    svc = unit["context"]["svc"]
    assert svc["nofile"] == 65536
    # Both service templates (systemd unit, LSB init script), whichever this host would get.
    renderer = jinja2.Environment(autoescape=False)  # shell and unit files, not HTML
    renderer.filters["quote"] = shlex.quote
    files = Path(SALT_DIR, "states", "fluxora", "libs", "files")
    unit_text = renderer.from_string((files / "unit.service.jinja").read_text()).render(svc=svc)
    init_text = renderer.from_string((files / "initd.sh.jinja").read_text()).render(svc=svc)
    assert "\nLimitNOFILE=65536\n" in unit_text
    assert "\n    ulimit -n 65536 2>/dev/null || {\n" in init_text


# --- identity by minion id: Auto Scaling instances by their name, no other id -------------------

INSTANCE_ID = "i-0123456789abcdef0"


@pytest.mark.parametrize(
    ("minion_id", "env", "role"),
    [
        (f"fluxora-staging-api-{INSTANCE_ID}", "staging", "api"),
        (f"fluxora-prod-worker-dr-{INSTANCE_ID}", "prod", "worker"),
    ],
    ids=["staging-api", "prod-worker-dr"],
)
def test_scaled_out_instance_gets_the_role_its_id_names(
    local_minion_factory: Callable[..., LocalMinion], minion_id: str, env: str, role: str
) -> None:
    """Its grains claim a database role too: the id decides, and the grain is corrected."""
    minion = local_minion_factory(env, minion_id, ["postgres-primary", role])
    rendered = minion.call("state.show_highstate", check=False)
    assert isinstance(rendered, dict), rendered
    roles = states_of(rendered, "grains")["fluxora-common-grains-roles-grains-present"]["value"]
    assert roles == [role]
    healthz = states_of(rendered, "file")["fluxora-app-config-healthz-file-managed"]
    assert healthz["contents"] == f"{role} ok"
    assert not [state for state in rendered if state.startswith("fluxora-postgres-")]


@pytest.mark.parametrize(
    "minion_id",
    [f"fluxora-dev-api-{INSTANCE_ID}", f"fluxora-prod-db-{INSTANCE_ID}", "prd-db-9"],
    ids=["dev-has-no-groups", "no-such-group", "not-in-topology"],
)
def test_a_minion_id_of_no_environment_gets_no_states(
    local_minion_factory: Callable[..., LocalMinion], minion_id: str
) -> None:
    minion = local_minion_factory("prod", minion_id, ["postgres-primary"])
    assert "env" not in minion.call("pillar.items")["fluxora"]
    assert minion.call("state.show_highstate", check=False) == {}
    log = (minion.config_dir / "minion.log").read_text()
    assert f"minion id {minion_id} is in no environment's topology" in log


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_exporters_listen_where_the_monitoring_host_scrapes_them(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    """Prometheus on the monitoring host scrapes every host's exporters by name and port: they
    listen on the host's topology address, not on its loopback."""
    data = yaml.safe_load((SALT_DIR / "pillar" / "fluxora" / f"{env}.sls").read_text())
    hosts = data["fluxora"]["topology"]["hosts"]
    scraped = data["fluxora"]["monitoring"]["targets"]["node"]
    for host in topology(env):
        rendered = repr(highstates[(env, host)])
        if not any(target.startswith(f"{host}.") for target in scraped):
            continue
        assert f"--web.listen-address={hosts[host]['address']}:9100" in rendered, host
        assert "--web.listen-address=127.0.0.1:9100" not in rendered, host
