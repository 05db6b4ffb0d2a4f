"""dev applied for real on dev-1, then checked with testinfra over the salt:// backend."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

from orchestrator.app.config import load_config
from tests.harness.processes import HarnessError, wait_until
from tests.infra.conftest import AppliedDev, highstate, state_failures

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

PACKAGES = [
    "postgresql-15",
    "patroni",
    "etcd-server",
    "redis-server",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-postgres-exporter",
    "python3-venv",
]


@pytest.fixture(scope="module")
def host(dev_applied: AppliedDev) -> Any:
    return testinfra.get_host("salt://dev-1")


def psql(host: Any, port: int, sql: str) -> str:
    cmd = host.run(
        "runuser -u postgres -- psql -X -At -h /var/run/postgresql -p %s -d postgres -c %s",
        str(port),
        sql,
    )
    assert cmd.rc == 0, cmd.stderr
    return str(cmd.stdout).strip()


def test_highstate_applies_every_dev_role(dev_applied: AppliedDev) -> None:
    assert not state_failures(dev_applied.first)
    ids = {value["__id__"] for value in dev_applied.first.values()}
    for expected in (
        "fluxora-etcd-service-running-service-running",
        "fluxora-postgres-primary-running-cmd-run",
        "fluxora-postgres-replica-running-cmd-run",
        "fluxora-orchestrator-service-running-service-running",
        "fluxora-monitoring-server-prometheus-service-running-service-running",
    ):
        assert expected in ids


def test_second_apply_changes_nothing(dev_applied: AppliedDev, salt_cli: Any) -> None:
    second = highstate(salt_cli, "dev-1")
    assert not state_failures(second)
    changed = {value["__id__"]: value["changes"] for value in second.values() if value["changes"]}
    assert changed == {}


def test_every_dev_role_passes_the_health_check_a_deploy_verifies_with(
    dev_applied: AppliedDev, salt_cli: Any
) -> None:
    result = salt_cli.run("state.apply", "fluxora.verify", minion_tgt="dev-1", _timeout=300)
    assert isinstance(result.data, dict), result.stdout
    failing = [
        f"{v['__id__']}: {v.get('comment')}" for v in result.data.values() if not v["result"]
    ]
    assert not failing, failing
    checked = {v["__id__"].split("-")[2] for v in result.data.values()}
    assert {"etcd", "monitoring", "orchestrator", "postgres", "redis"} <= checked, checked


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_installed(host: Any, package: str) -> None:
    assert host.package(package).is_installed


def test_every_service_listens_on_its_port(host: Any, dev_applied: AppliedDev) -> None:
    for name, port in sorted(dev_applied.spec.ports.items()):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening, name


def test_replica_streams_from_primary(host: Any, dev_applied: AppliedDev) -> None:
    primary, replica = dev_applied.spec.clusters
    assert psql(host, replica.port, "SELECT pg_is_in_recovery()") == "t"
    state = psql(host, primary.port, "SELECT state, sync_state FROM pg_stat_replication")
    assert state == "streaming|sync"  # Patroni's synchronous mode
    slot = psql(host, primary.port, "SELECT slot_name, active FROM pg_replication_slots")
    assert slot == "fluxora_b|t"  # Patroni's slot for member fluxora-b
    marker = uuid.uuid4().hex
    psql(
        host,
        primary.port,
        f"CREATE TABLE IF NOT EXISTS probe(v text); INSERT INTO probe VALUES ('{marker}')",
    )

    def replicated() -> bool:
        cmd = host.run(
            "runuser -u postgres -- psql -X -At -h /var/run/postgresql -p %s -d postgres -c %s",
            str(replica.port),
            f"SELECT count(*) FROM probe WHERE v = '{marker}'",
        )
        return cmd.rc == 0 and cmd.stdout.strip() == "1"

    wait_until(replicated, 20, "the row to reach the replica")


def test_postgres_roles_and_hba(host: Any, dev_applied: AppliedDev) -> None:
    primary, _ = dev_applied.spec.clusters
    roles = psql(
        host,
        primary.port,
        "SELECT rolname || ':' || rolreplication FROM pg_roles "
        "WHERE rolname IN ('replicator', 'fluxora_backup', 'prometheus') ORDER BY 1",
    )
    assert roles.split() == ["fluxora_backup:true", "prometheus:false", "replicator:true"]
    members = psql(
        host, primary.port, "SELECT pg_has_role('fluxora_backup', 'pg_read_all_data', 'member')"
    )
    assert members == "t"
    hba = host.file(f"{primary.data_dir}/pg_hba.conf")  # written by Patroni from pillar
    assert hba.contains("host replication replicator 127.0.0.1/32 scram-sha-256")
    assert not hba.contains("trust")
    assert psql(host, primary.port, "SHOW wal_level") == "replica"
    assert psql(host, primary.port, "SHOW wal_log_hints") == "on"


def test_patroni_configs_holding_passwords_are_private(host: Any, dev_applied: AppliedDev) -> None:
    for cluster in dev_applied.spec.clusters:
        config = host.file(f"/etc/patroni/{cluster.name}.yml")
        assert (config.user, config.mode) == ("postgres", 0o600)


def test_orchestrator_answers_healthz(host: Any, dev_applied: AppliedDev) -> None:
    cmd = host.run("curl -fsS http://%s/healthz", dev_applied.spec.listen("orch"))
    assert cmd.rc == 0, cmd.stderr
    config_file = dev_applied.spec.overrides()["orchestrator"]["config_file"]
    process = host.run("pgrep -f %s", f"fluxora-orch run --config {config_file}")
    assert process.rc == 0, "fluxora-orch is not running with the rendered config"


def test_orchestrator_config_loads_with_the_daemon_schema(
    host: Any, dev_applied: AppliedDev, tmp_path: Path
) -> None:
    path = dev_applied.spec.overrides()["orchestrator"]["config_file"]
    config_file = host.file(path)
    assert (config_file.user, config_file.mode) == ("root", 0o640)
    local = tmp_path / "orchestrator.yml"
    local.write_text(config_file.content_string)
    config = load_config(config_file=local, environ={})
    assert config.env == "dev"
    assert config.http.listen == dev_applied.spec.listen("orch")


def test_monitoring_files_from_the_repository_and_pillar(
    host: Any, dev_applied: AppliedDev
) -> None:
    config_dir = dev_applied.spec.overrides()["monitoring"]["config_dir"]
    repo_prometheus = REPO / "monitoring/prometheus/prometheus.yml"
    deployed = host.file(f"{config_dir}/prometheus.yml").content_string
    assert deployed.strip() == repo_prometheus.read_text().strip()
    targets = json.loads(
        host.file(f"{config_dir}/targets/fluxora-orchestrator.json").content_string
    )
    assert targets == [{"targets": [dev_applied.spec.listen("orch")], "labels": {"env": "dev"}}]
    token = host.file(f"{config_dir}/secrets/orchestrator-token")
    assert (token.user, token.mode) == ("prometheus", 0o400)


def test_every_file_sd_job_of_prometheus_yml_has_a_target_file(
    host: Any, dev_applied: AppliedDev
) -> None:
    config_dir = dev_applied.spec.overrides()["monitoring"]["config_dir"]
    prometheus = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    sections = prometheus["scrape_configs"] + prometheus["alerting"]["alertmanagers"]
    files = {f for s in sections for sd in s.get("file_sd_configs", []) for f in sd["files"]}
    for file in sorted(files):
        groups = json.loads(host.file(f"{config_dir}/{file}").content_string)
        assert all(group["labels"] == {"env": "dev"} for group in groups), file


def test_grafana_files_from_the_repository(host: Any, dev_applied: AppliedDev) -> None:
    grafana = dev_applied.spec.overrides()["monitoring"]["grafana"]
    assert host.file(grafana["dashboards_dir"]).is_directory
    for source in sorted((REPO / "monitoring/grafana/dashboards").glob("*.json")):
        deployed = host.file(f"{grafana['dashboards_dir']}/{source.name}").content_string
        assert deployed.strip() == source.read_text().strip()


def test_prometheus_scrapes_the_orchestrator_and_exporters(dev_applied: AppliedDev) -> None:
    # Prometheus runs on this machine's loopback: ask it directly rather than through Salt.
    url = f"http://{dev_applied.spec.listen('prometheus')}/api/v1/query?query=up"
    seen: dict[str, str] = {}

    def scraped() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                results = json.load(response)["data"]["result"]
        except OSError:
            return False
        seen.update({r["metric"]["job"]: r["value"][1] for r in results})
        return all(seen.get(job) == "1" for job in ("fluxora-orchestrator", "node", "postgres"))

    try:
        wait_until(scraped, 60, "Prometheus to scrape the orchestrator and the exporters")
    except HarnessError as exc:
        raise AssertionError(f"{exc}; up = {seen}") from exc
