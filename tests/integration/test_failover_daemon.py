"""Failover and failback submitted to a real `fluxora-orch run` (rules over the shipped
runbooks) while a client's write probe writes through the service endpoint every 50 ms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.topology import ClusterConfig
from tests.harness import fluxora
from tests.harness.failover import CLUSTER, service_probe, topology, write_directly
from tests.harness.postgres import PgPair

RULES = [
    {"name": "failover", "match": "fluxora/test/failover", "run": "postgres-failover",
     "with": {"mode": "{{ event.data.mode }}", "inject_fault": "{{ event.data.inject_fault }}"}},
    {"name": "failback", "match": "fluxora/test/failback", "run": "postgres-failback"},
]  # fmt: skip


@pytest.fixture
def daemon(
    pg_pair_factory: Callable[[], PgPair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[fluxora.Daemon, PgPair]]:
    pair = pg_pair_factory()
    clusters = topology(pair, tmp_path / "pg_service.conf")
    endpoint.repoint(ClusterConfig.model_validate(clusters["dev"][CLUSTER]), "a", None)
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "pg_service.conf"))
    daemon = fluxora.start_daemon(
        tmp_path, rules=RULES, runbooks_dir=str(default_runbooks_dir()),
        postgres_clusters=clusters, shutdown_grace_seconds=1,
    )  # fmt: skip
    try:
        yield daemon, pair
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


def test_failover_and_failback_through_the_daemon(daemon: tuple[fluxora.Daemon, PgPair]) -> None:
    orch, pair = daemon
    probe = service_probe("daemon-client").start()
    try:
        assert probe.wait_for_writes(5, 30)
        failover = run_job(orch, "failover", {"mode": "unplanned", "inject_fault": True})
        assert failover["status"] == "completed", failover["journal"]["error"]
        measurement = step(failover, "measure")["output"]["measurement"]
        assert set(measurement) == {"rto_seconds", "rpo_seconds", "rpo_bytes"}
        assert pair.replica.psql("SELECT pg_is_in_recovery()") == "f"
        assert write_directly(pair.primary) is not None
        assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)

        failback = run_job(orch, "failback", {})
        assert failback["status"] == "completed", failback["journal"]["error"]
        assert pair.primary.psql("SELECT pg_is_in_recovery()") == "f"
        assert pair.replica.psql("SELECT pg_is_in_recovery()") == "t"
        assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    finally:
        writes = probe.stop()
    query = "SELECT string_agg(seq::text, ',') FROM fluxora_dr_probe WHERE probe_id = '{}'"
    present = pair.primary.psql(query.format(probe.probe_id))
    assert {w.seq for w in writes if w.ok} <= {int(s) for s in present.split(",")}
