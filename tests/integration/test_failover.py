"""Failover and failback runbooks on a real primary/replica pair, with the real actions, while
a client's write probe writes through the service endpoint every 50 ms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.journal import Phase, RunStatus
from orchestrator.families.postgres import endpoint, rejoin
from orchestrator.families.postgres.failover import fence
from orchestrator.families.postgres.probe import WriteProbe, present_rows
from orchestrator.families.postgres.topology import ClusterConfig, NodeConfig
from tests.harness.failover import (
    CLUSTER,
    config_for,
    node_entry,
    resources,
    run_runbook,
    service_probe,
    step_output,
    write_directly,
)
from tests.harness.postgres import PgCluster, PgPair
from tests.harness.processes import free_port


@pytest.fixture
def pair(pg_pair_factory: Callable[[], PgPair]) -> PgPair:
    return pg_pair_factory()


@pytest.fixture
def config(pair: PgPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    config = config_for(pair, tmp_path)
    # Clients find the endpoint the way any libpq application would.
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "pg_service.conf"))
    return config


@pytest.fixture
def probe(config: Config) -> Iterator[WriteProbe]:
    probe = service_probe("client").start()
    try:
        assert probe.wait_for_writes(5, 30), probe.writes()[-1:]
        yield probe
    finally:
        probe.stop()


def in_recovery(cluster: PgCluster) -> bool:
    return cluster.psql("SELECT pg_is_in_recovery()") == "t"


def endpoint_node(config: Config) -> str | None:
    return endpoint.current(config.postgres_clusters["dev"][CLUSTER], None)


def acknowledged_rows_missing(probe: WriteProbe, cluster: PgCluster) -> list[int]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        present = present_rows(conn, probe.probe_id)
    return [w.seq for w in probe.writes() if w.ok and w.seq not in present]


def resumed_after_failure(probe: WriteProbe) -> bool:
    writes = probe.writes()
    first_failure = next((w.seq for w in writes if not w.ok), None)
    return first_failure is not None and any(w.ok and w.seq > first_failure for w in writes)


def test_unplanned_failover_then_failback_keeps_every_acknowledged_row(
    pair: PgPair, config: Config, probe: WriteProbe
) -> None:
    given = resources(config)
    failover = run_runbook("postgres-failover", "dev",
                           {"mode": "unplanned", "inject_fault": True}, given)  # fmt: skip
    assert failover.status is RunStatus.COMPLETED, failover.error
    assert not in_recovery(pair.replica)
    assert endpoint_node(config) == "b"
    measurement = step_output(failover, "measure")["measurement"]
    assert 0 < measurement["rto_seconds"] < 30
    assert measurement["rpo_bytes"] >= 0
    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    assert resumed_after_failure(probe)

    # The old primary accepts no write: not while fenced, and not when someone starts it again.
    assert write_directly(pair.primary) is not None
    pair.primary.ctl("start")
    assert in_recovery(pair.primary)
    refused = write_directly(pair.primary)
    assert refused is not None
    assert "read-only" in refused

    failback = run_runbook("postgres-failback", "dev", {}, given)
    assert failback.status is RunStatus.COMPLETED, failback.error
    assert not in_recovery(pair.primary)
    assert in_recovery(pair.replica)
    assert endpoint_node(config) == "a"
    assert step_output(failback, "rejoin_home")["method"] == "rewind"
    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    probe.stop()
    assert acknowledged_rows_missing(probe, pair.primary) == []
    assert pair.replica.psql(f"SELECT count(*) FROM fluxora_dr_probe WHERE probe_id = "
                             f"'{probe.probe_id}'") == pair.primary.psql(
        f"SELECT count(*) FROM fluxora_dr_probe WHERE probe_id = '{probe.probe_id}'")  # fmt: skip


def test_planned_switchover_loses_nothing(pair: PgPair, config: Config, probe: WriteProbe) -> None:
    given = resources(config)
    switchover = run_runbook("postgres-failover", "dev", {"mode": "planned"}, given)
    assert switchover.status is RunStatus.COMPLETED, switchover.error
    assert endpoint_node(config) == "b"
    measured = step_output(switchover, "measure")
    assert measured["measurement"]["rpo_seconds"] == 0
    assert measured["measurement"]["rpo_bytes"] == 0
    assert measured["probe"]["missing"] == []
    assert step_output(switchover, "promote")["lost_wal_bytes"] == 0
    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    assert acknowledged_rows_missing(probe, pair.replica) == []
    assert write_directly(pair.primary) is not None

    failback = run_runbook("postgres-failback", "dev", {"method": "clone"}, given)
    assert failback.status is RunStatus.COMPLETED, failback.error
    assert step_output(failback, "rejoin_home")["method"] == "clone"
    assert (not in_recovery(pair.primary), in_recovery(pair.replica)) == (True, True)
    probe.stop()
    assert acknowledged_rows_missing(probe, pair.primary) == []


def test_a_failed_step_runs_the_rollbacks_in_order_and_leaves_one_writer(
    pair: PgPair, config: Config, probe: WriteProbe
) -> None:
    pair.replica.ctl("stop")  # the promotion target is gone: promote fails after the fence
    journal = run_runbook("postgres-failover", "dev", {"mode": "planned"}, resources(config))
    assert journal.status is RunStatus.FAILED
    assert journal.error is not None
    assert journal.error.startswith("step 'promote': promote b:")
    assert [(r.name, r.phase) for r in journal.rollbacks] == [
        ("restore_writer", Phase.ROLLBACK), ("stop_probe", Phase.ROLLBACK)]  # fmt: skip
    assert step_output(journal, "restore_writer")["writer"] == "a"
    assert endpoint_node(config) == "a"
    assert write_directly(pair.primary) is None  # the old primary was unfenced: it writes again
    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    pair.replica.ctl("start")


def test_failover_after_the_primary_is_already_lost_measures_from_its_start(
    pair: PgPair, config: Config, probe: WriteProbe
) -> None:
    pair.primary.ctl("stop")  # the incident happened before anyone ran the runbook
    journal = run_runbook("postgres-failover", "dev", {}, resources(config))
    assert journal.status is RunStatus.COMPLETED, journal.error
    assert step_output(journal, "probe")["first_write_ok"] is False
    measurement = step_output(journal, "measure")["measurement"]
    assert measurement["rto_seconds"] > 0
    assert step_output(journal, "fence")["fenced_by"][1] == "not running"
    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    assert acknowledged_rows_missing(probe, pair.replica) == []


def test_failover_refuses_when_the_primary_answers(pair: PgPair, config: Config) -> None:
    journal = run_runbook("postgres-failover", "dev", {"mode": "unplanned"}, resources(config))
    assert journal.status is RunStatus.FAILED
    assert "a answers as a primary accepting connections" in (journal.error or "")
    assert not in_recovery(pair.primary)
    assert in_recovery(pair.replica)
    assert endpoint_node(config) == "a"


def test_failback_with_nothing_to_do_changes_nothing(pair: PgPair, config: Config) -> None:
    journal = run_runbook("postgres-failback", "dev", {}, resources(config))
    assert journal.status is RunStatus.ABORTED
    assert "nothing to fail back: the home node a is the primary" in (journal.error or "")


def test_dry_run_plans_every_step_and_changes_nothing(pair: PgPair, config: Config) -> None:
    journal = run_runbook("postgres-failover", "dev", {"mode": "planned"}, resources(config),
                          dry_run=True)  # fmt: skip
    assert journal.status is RunStatus.COMPLETED, journal.error
    plans = {s.name: s.output.get("plan") for s in journal.steps}
    assert plans["promote"] == {"node": "b", "sql": [
        "SELECT pg_promote(wait => true, wait_seconds => 60)"]}  # fmt: skip
    assert plans["repoint"]["section"]["port"] == str(pair.replica.port)
    assert plans["primary_down"] == ["CHECKPOINT", "pg_ctlcluster stop -m fast", "pg_controldata"]
    assert not in_recovery(pair.primary)
    assert in_recovery(pair.replica)
    assert endpoint_node(config) == "a"
    assert pair.primary.psql("SELECT to_regclass('fluxora_dr_probe') IS NULL") == "t"


def test_unreachable_remote_primary_is_fenced_by_endpoint_and_fence_command(
    tmp_path: Path, pair: PgPair
) -> None:
    marker = tmp_path / "fenced"
    remote = {"host": "127.0.0.1", "port": free_port(), "connect_timeout_seconds": 1,
              "stop_command": ["false"], "fence_command": ["touch", str(marker)]}  # fmt: skip
    cluster = ClusterConfig.model_validate({
        "home": "r", "nodes": {"r": remote, "b": node_entry(pair.replica)},
        "endpoint": {"kind": "service_file", "path": str(tmp_path / "svc.conf"), "service": "m"},
    })  # fmt: skip
    endpoint.repoint(cluster, "r", None)
    fenced = fence(cluster, "r", "b", None)
    assert fenced["reachable"] is False
    assert fenced["fenced_by"][0] == "endpoint repointed to b"
    assert fenced["fenced_by"][1].startswith("stop_command failed (stop (fast) failed (1)")
    assert fenced["fenced_by"][2] == "fence_command"
    assert marker.exists()
    assert endpoint.current(cluster, None) == "b"


def test_rejoin_falls_back_to_a_fresh_clone_when_pg_rewind_fails(
    pair: PgPair, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    switchover = run_runbook("postgres-failover", "dev", {"mode": "planned"}, resources(config))
    assert switchover.status is RunStatus.COMPLETED, switchover.error
    rewind = rejoin._rewind

    def rewind_from_nowhere(node: NodeConfig, source: NodeConfig, name: str) -> None:
        rewind(node, source.model_copy(update={"port": free_port()}), name)  # a real failure

    monkeypatch.setattr(rejoin, "_rewind", rewind_from_nowhere)
    action = builtin_registry().get("postgres.rejoin")
    ctx = ActionContext(env="dev", resources=resources(config))
    rejoined = action(ctx, action.parse({"cluster": CLUSTER, "node": "a", "upstream": "b"}))
    assert rejoined.ok, rejoined.error
    assert rejoined.data["method"] == "clone"
    assert rejoined.data["rewind_error"].startswith("pg_rewind failed")
    assert in_recovery(pair.primary)
    assert pair.replica.psql(
        "SELECT state FROM pg_stat_replication WHERE application_name = 'a'"
    ) == ("streaming")
