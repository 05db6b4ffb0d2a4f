"""Failover and failback submitted to a real `fluxora-orch run` (rules over the shipped
runbooks) on a real Patroni cluster, while a client's write probe writes through the service
endpoint (libpq multi-host) every 50 ms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.probe import present_rows
from orchestrator.families.postgres.topology import ClusterConfig
from tests.harness import fluxora
from tests.harness.failover import CLUSTER, service_probe
from tests.harness.patroni import PatroniCluster, cluster_entry

pytestmark = pytest.mark.integration

RULES = [
    {"name": "failover", "match": "fluxora/test/failover", "run": "postgres-failover",
     "with": {"mode": "{{ event.data.mode }}", "inject_fault": "{{ event.data.inject_fault }}"}},
    {"name": "failback", "match": "fluxora/test/failback", "run": "postgres-failback"},
]  # fmt: skip


@pytest.fixture
def daemon(
    patroni_cluster: PatroniCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[fluxora.Daemon]:
    patroni_cluster.heal()
    entry = cluster_entry(patroni_cluster, tmp_path / "pg_service.conf")
    entry["home"] = patroni_cluster.wait_leader(60)
    endpoint.follow(ClusterConfig.model_validate(entry), entry["home"], None)
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "pg_service.conf"))
    daemon = fluxora.start_daemon(
        tmp_path, rules=RULES, runbooks_dir=str(default_runbooks_dir()),
        postgres_clusters={"dev": {CLUSTER: entry}}, shutdown_grace_seconds=1,
    )  # fmt: skip
    try:
        yield daemon
    finally:
        daemon.stop()


def run_job(daemon: fluxora.Daemon, rule: str, data: dict[str, Any]) -> dict[str, Any]:
    posted = daemon.client.post_event(f"fluxora/test/{rule}", data)
    assert posted.status == 202, posted.body
    job_id = daemon.client.fired_job(posted.body["id"], rule)
    return daemon.client.finished_job(job_id, timeout=180)


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    (record,) = [s for s in job["journal"]["steps"] if s["name"] == name]
    return dict(record)


def test_failover_and_failback_through_the_daemon(
    daemon: fluxora.Daemon, patroni_cluster: PatroniCluster
) -> None:
    home = patroni_cluster.wait_leader(60)
    probe = service_probe("daemon-client").start()
    try:
        assert probe.wait_for_writes(5, 30)
        failover = run_job(daemon, "failover", {"mode": "unplanned", "inject_fault": True})
        assert failover["status"] == "completed", failover["journal"]["error"]
        measurement = step(failover, "measure")["output"]["measurement"]
        assert set(measurement) == {"rto_seconds", "rpo_seconds", "rpo_bytes"}
        new = step(failover, "new_leader")["output"]["leader"]
        assert new != home
        assert patroni_cluster.writers() == [new]
        assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)

        failback = run_job(daemon, "failback", {})
        assert failback["status"] == "completed", failback["journal"]["error"]
        assert patroni_cluster.writers() == [home]
        assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    finally:
        writes = probe.stop()
    with psycopg.connect(patroni_cluster.nodes[home].dsn(), autocommit=True) as conn:
        present = present_rows(conn, probe.probe_id)
    assert {w.seq for w in writes if w.ok} <= present
