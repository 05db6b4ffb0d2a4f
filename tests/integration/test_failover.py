"""The failover and failback runbooks on a real Patroni cluster (etcd, two nodes), with the
real actions, while a client writes through the libpq service file every 50 ms: Patroni
elects and promotes, the orchestrator asks, injects the drill's fault, measures and checks."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.journal import RunStatus
from orchestrator.core.results import Result
from orchestrator.families.postgres.probe import WriteProbe, present_rows
from tests.harness.failover import (
    CLUSTER,
    SERVICE,
    patroni_config,
    resources,
    run_runbook,
    service_probe,
    step_output,
)
from tests.harness.patroni import BIN_DIR, PatroniCluster

pytestmark = pytest.mark.integration

# Settings of the clients' own that the orchestrator must never drop from its section.
CLIENT_SETTINGS = {"user": "postgres", "sslmode": "disable", "application_name": "forecast-api"}


@pytest.fixture
def config(
    patroni_cluster: PatroniCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Config:
    patroni_cluster.heal()
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[{SERVICE}]\n" + "".join(f"{k}={v}\n" for k, v in CLIENT_SETTINGS.items())
        + "[other]\nhost=elsewhere\n"
    )  # fmt: skip
    config = patroni_config(patroni_cluster, tmp_path)
    # Clients find the endpoint the way any libpq application would.
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    return config


@pytest.fixture
def probe(config: Config) -> Iterator[WriteProbe]:
    probe = service_probe("client").start()
    try:
        assert probe.wait_for_writes(5, 30), probe.writes()[-1:]
        yield probe
    finally:
        probe.stop()


def service_section(config: Config, name: str = SERVICE) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(config.data_dir / "pg_service.conf")
    return dict(parser[name])


def rows_missing(cluster: PatroniCluster, probe: WriteProbe) -> list[int]:
    leader = cluster.wait_leader(60)
    with psycopg.connect(cluster.nodes[leader].dsn(), autocommit=True) as conn:
        present = present_rows(conn, probe.probe_id)
    return [w.seq for w in probe.writes() if w.ok and w.seq not in present]


def home(config: Config) -> str:
    return config.postgres_clusters["dev"][CLUSTER].home


def test_drill_crashes_the_leader_then_failback_returns_and_client_settings_survive(
    patroni_cluster: PatroniCluster, config: Config, probe: WriteProbe
) -> None:
    given = resources(config)
    drill = run_runbook("postgres-failover", "dev", {"inject_fault": True}, given)
    assert drill.status is RunStatus.COMPLETED, drill.error
    old = home(config)
    new = step_output(drill, "new_leader")["leader"]
    assert new != old
    assert patroni_cluster.writers() == [new]
    measured = step_output(drill, "measure")
    assert 0 < measured["measurement"]["rto_seconds"] < 15, measured
    assert measured["probe"]["missing"] == []
    rejoined = step_output(drill, "rejoin_old")
    assert (rejoined["restarted"], rejoined["role"]) == (True, "sync_standby")

    failback = run_runbook("postgres-failback", "dev", {}, given)
    assert failback.status is RunStatus.COMPLETED, failback.error
    assert patroni_cluster.writers() == [old]
    assert step_output(failback, "measure")["probe"]["missing"] == []
    assert step_output(failback, "rejoin_other")["role"] == "sync_standby"

    assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    probe.stop()
    assert rows_missing(patroni_cluster, probe) == []
    section = service_section(config)
    assert {k: section[k] for k in CLIENT_SETTINGS} == CLIENT_SETTINGS
    assert section["target_session_attrs"] == "read-write"
    assert len(section["port"].split(",")) == 2
    assert service_section(config, "other") == {"host": "elsewhere"}


def test_planned_switchover_loses_nothing_and_failback_undoes_it(
    patroni_cluster: PatroniCluster, config: Config, probe: WriteProbe
) -> None:
    given = resources(config)
    switchover = run_runbook("postgres-failover", "dev", {"mode": "planned"}, given)
    assert switchover.status is RunStatus.COMPLETED, switchover.error
    measured = step_output(switchover, "measure")
    assert measured["measurement"]["rpo_seconds"] == 0
    assert measured["probe"]["missing"] == []
    assert step_output(switchover, "rejoin_old")["restarted"] is False
    assert patroni_cluster.writers() == [step_output(switchover, "new_leader")["leader"]]

    failback = run_runbook("postgres-failback", "dev", {}, given)
    assert failback.status is RunStatus.COMPLETED, failback.error
    assert patroni_cluster.writers() == [home(config)]
    probe.stop()
    assert rows_missing(patroni_cluster, probe) == []


def test_failback_with_nothing_to_do_changes_nothing(config: Config) -> None:
    journal = run_runbook("postgres-failback", "dev", {}, resources(config))
    assert journal.status is RunStatus.ABORTED
    expected = f"nothing to fail back: the home node {home(config)} is the primary"
    assert expected in (journal.error or "")


def test_dry_run_plans_every_step_and_changes_nothing(
    patroni_cluster: PatroniCluster, config: Config
) -> None:
    leader = home(config)
    journal = run_runbook("postgres-failover", "dev", {"mode": "planned"}, resources(config),
                          dry_run=True)  # fmt: skip
    assert journal.status is RunStatus.COMPLETED, journal.error
    plans = {s.name: s.output.get("plan") for s in journal.steps}
    replica = next(n for n in patroni_cluster.nodes if n != leader)
    assert plans["handover"] == {"patroni": f"POST /switchover leader={leader} candidate={replica}"}
    assert plans["endpoint"]["section"]["target_session_attrs"] == "read-write"
    assert patroni_cluster.writers() == [leader]


def run(config: Config, name: str, **params: Any) -> Result:
    action = builtin_registry().get(name)
    ctx = ActionContext(env="dev", resources=resources(config))
    return action(ctx, action.parse({"cluster": CLUSTER, **params}))


def test_an_orphan_writer_is_fenced_and_rejoins(
    patroni_cluster: PatroniCluster, config: Config
) -> None:
    """A replica whose launcher and Patroni are gone, promoted by hand: a second writer
    that Patroni does not know. The two-writer check fences it; Patroni rewinds it back."""
    leader = home(config)
    orphan = next(n for n in patroni_cluster.nodes if n != leader)
    node = patroni_cluster.nodes[orphan]
    pids = node.launcher_pids()
    assert pids is not None
    for pid in pids:  # the launcher first: nothing is left to fence the postmaster
        os.kill(pid, signal.SIGKILL)
    promote = [f"{BIN_DIR}/pg_ctl", "promote", "-w", "-D", str(node.data_dir)]
    subprocess.run(["runuser", "-u", "postgres", "--", *promote], check=True, capture_output=True)
    assert patroni_cluster.writers() == sorted([leader, orphan])

    checked = run(config, "postgres.check_writers", max=1)
    assert not checked.ok
    assert checked.error.startswith("2 nodes accept writes")
    fenced = run(config, "postgres.fence_orphans")
    assert fenced.ok, fenced.error
    assert fenced.data["fenced"] == {orphan: "fence_command"}
    assert patroni_cluster.writers() == [leader]

    rejoined = run(config, "postgres.rejoin", node=orphan, timeout=120)
    assert rejoined.ok, rejoined.error
    assert rejoined.data["restarted"] is True


def test_quorum_loss_is_reported_and_nothing_accepts_writes(
    patroni_cluster: PatroniCluster, config: Config
) -> None:
    for node in patroni_cluster.nodes.values():
        node.dcs.cut()
    try:
        patroni_cluster.wait_writers([], 30)
        roles = run(config, "postgres.roles")
    finally:
        for node in patroni_cluster.nodes.values():
            node.dcs.heal()
    assert not roles.ok
    assert "Patroni reports no leader: the cluster accepts no writes" in (roles.error or "")
    patroni_cluster.wait_leader(60)
