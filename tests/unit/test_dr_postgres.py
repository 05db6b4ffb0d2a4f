"""Failover units: the topology config and its errors, the probe's RTO/RPO arithmetic, check.sql
comparisons, the service-file endpoint, and the runbooks' validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app.config import load_config
from orchestrator.app.families import builtin_registry
from orchestrator.core.errors import ConfigError
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.checks import Compare, compare
from orchestrator.families.postgres.probe import NotResumedError, ProbeWrite, measure
from orchestrator.families.postgres.topology import ClusterConfig

NODE_A = {"host": "/run/pg", "port": 5433, "patroni_url": "http://127.0.0.1:8008"}
NODE_B = {"host": "/run/pg", "port": 5434, "patroni_url": "http://127.0.0.1:8009"}


def cluster_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "home": "a",
        "nodes": {"a": NODE_A, "b": NODE_B},
        "endpoint": {"kind": "service_file", "path": "/tmp/x.conf", "service": "main"},
    }
    doc.update(changes)
    return doc


def load(tmp_path: Path, cluster: dict[str, Any]) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({"data_dir": "/d", "postgres_clusters": {"dev": {"main": cluster}}})
    )
    return load_config(config_file=path, environ={})


@pytest.mark.parametrize(
    ("changes", "key", "reason"),
    [
        ({"home": "zz"}, "postgres_clusters.dev.main",
         "home: no node 'zz' (nodes: a, b)"),
        ({"nodes": {"a": {**NODE_A, "data_dir": "/var/lib/pg/a"}, "b": NODE_B}},
         "postgres_clusters.dev.main.nodes.a.data_dir", "unknown key"),
        ({"nodes": {"a": NODE_A}}, "postgres_clusters.dev.main.nodes",
         "Dictionary should have at least 2 items"),
        ({"endpoint": {"kind": "dns", "path": "/x"}}, "postgres_clusters.dev.main.endpoint",
         "does not match any of the expected tags: 'service_file', 'route53'"),
        ({"nodes": {"a": {**NODE_A, "patroni_url": "a:8008"}, "b": NODE_B}},
         "postgres_clusters.dev.main.nodes.a.patroni_url", "String should match pattern"),
    ],
)  # fmt: skip
def test_bad_topology_names_file_key_and_reason(
    tmp_path: Path, changes: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, cluster_doc(**changes))
    assert info.value.source == str(tmp_path / "c.yaml")
    assert info.value.key.startswith(key)
    assert reason in info.value.reason


def test_topology_loads_patroni_nodes_and_a_dr_node(tmp_path: Path) -> None:
    remote = {"host": "db1.internal", "fault_command": ["salt", "db1", "cmd.run", "x"]}
    doc = cluster_doc(nodes={"a": NODE_A, "b": NODE_B, "r": remote}, dr_node="r", patroni={})
    cluster = load(tmp_path, doc).postgres_clusters["dev"]["main"]
    assert cluster.node("a").patroni_url == "http://127.0.0.1:8008"
    assert cluster.node("r").fault_command == ["salt", "db1", "cmd.run", "x"]
    assert cluster.node("r").dns_value() == "db1.internal"
    assert cluster.patroni is not None
    assert cluster.patroni.synchronous


def write(seq: int, at: float, ok: bool, server: str = "s1") -> ProbeWrite:
    return ProbeWrite(seq, at, at + 0.01, ok, server=server if ok else None)


def test_measure_rto_from_first_failure_to_first_success_after_it() -> None:
    writes = [write(1, 0.0, True), write(2, 1.0, False), write(3, 2.0, False),
              write(4, 3.5, True, "s2")]  # fmt: skip
    result = measure(writes, present={1, 4}, lost_wal_bytes=0)
    assert result.rto_seconds == pytest.approx(2.51)
    assert (result.rpo_seconds, result.missing, result.failed) == (0.0, [], 2)
    assert result.servers == ["s1", "s2"]
    assert result.measurement() == {"rto_seconds": result.rto_seconds, "rpo_seconds": 0.0,
                                    "rpo_bytes": 0}  # fmt: skip


def test_measure_rpo_from_acknowledged_rows_the_new_primary_lacks() -> None:
    writes = [write(1, 0.0, True), write(2, 1.0, True), write(3, 2.0, True),
              write(4, 3.0, False), write(5, 4.0, True, "s2")]  # fmt: skip
    result = measure(writes, present={1, 5}, lost_wal_bytes=120)
    assert result.missing == [2, 3]
    assert result.rpo_seconds == pytest.approx(2.0)  # last kept row (1) to last lost row (3)
    assert result.rpo_bytes == 120


def test_measure_without_failures_is_zero_and_without_recovery_is_an_error() -> None:
    assert measure([write(1, 0.0, True)], {1}, 0).rto_seconds == 0.0
    with pytest.raises(NotResumedError, match="no write succeeded after the first failure"):
        measure([write(1, 0.0, True), write(2, 1.0, False)], {1}, 0)


@pytest.mark.parametrize(
    ("value", "op", "expect", "ok"),
    [(True, Compare.EQ, True, True), ("t", Compare.EQ, True, True), (3, Compare.GT, 2, True),
     ("2.5", Compare.LE, 2, False), (None, Compare.LT, 1, False), ("x", Compare.NE, "y", True),
     (5, Compare.EQ, 5, True)],
)  # fmt: skip
def test_check_sql_compares_in_the_expected_type(value: Any, op: Compare, expect: Any,
                                                  ok: bool) -> None:  # fmt: skip
    assert compare(value, op, expect) is ok


def test_service_file_repoint_keeps_other_services_and_names_the_node(tmp_path: Path) -> None:
    path = tmp_path / "pg_service.conf"
    path.write_text("[other]\nhost=elsewhere\nport=1\n")
    cluster = ClusterConfig.model_validate(
        cluster_doc(endpoint={"kind": "service_file", "path": str(path), "service": "main"})
    )
    assert endpoint.current(cluster, None) is None
    endpoint.repoint(cluster, "b", None)
    text = path.read_text()
    assert "[other]\nhost=elsewhere\nport=1\n" in text
    assert "[main]\nhost=/run/pg\nport=5434\ndbname=postgres\n" in text  # libpq: no spaces
    assert endpoint.current(cluster, None) == "b"


def test_following_a_patroni_leader_keeps_the_clients_own_settings(tmp_path: Path) -> None:
    path = tmp_path / "pg_service.conf"
    path.write_text("[main]\nhost=/old\nport=1\nuser=app\nsslmode=require\n"
                    "application_name=api\n\n[other]\nhost=elsewhere\n")  # fmt: skip
    service = {"kind": "service_file", "path": str(path), "service": "main"}
    cluster = ClusterConfig.model_validate(cluster_doc(endpoint=service, patroni={}))
    endpoint.follow(cluster, "b", None)
    endpoint.follow(cluster, "a", None)
    assert path.read_text().split("\n\n")[1:] == [
        "[main]\nhost=/run/pg,/run/pg\nport=5433,5434\ndbname=postgres\n"
        "target_session_attrs=read-write\nuser=app\nsslmode=require\napplication_name=api",
        "[other]\nhost=elsewhere\n",
    ]


def test_shipped_dr_runbooks_validate() -> None:
    catalog = load_catalog(default_runbooks_dir(), builtin_registry())
    failover = catalog.get("postgres-failover")
    assert failover.requires_approval("prod")
    assert not failover.requires_approval("staging")
    assert {r.name for r in catalog} >= {"postgres-failover", "postgres-failback",
                                         "region-evacuation"}  # fmt: skip
    assert catalog.environments("region-evacuation") == ["staging", "prod"]
