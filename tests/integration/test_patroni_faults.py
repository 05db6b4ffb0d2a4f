"""Faults on a real Patroni cluster (etcd, two nodes, the shipped timings, synchronous mode,
the shipped launcher) under a write load: a client on libpq multi-host and one client pinned
to each node. In every fault: never two nodes acknowledging writes, no acknowledged row
lost, and the old leader back as a streaming replica on the new timeline."""

from __future__ import annotations

import pytest

from tests.harness.patroni import FaultOutcome, PatroniCluster, run_fault, wait_seconds

pytestmark = pytest.mark.integration


def assert_safe(outcome: FaultOutcome) -> None:
    assert outcome.overlap == []
    assert outcome.lost == {}
    assert outcome.client.missing == []


def test_whole_node_loss_fails_over_and_the_node_rejoins(
    patroni_cluster: PatroniCluster,
) -> None:
    outcome = run_fault(
        patroni_cluster, patroni_cluster.kill_node, recover=patroni_cluster.start_node
    )
    assert_safe(outcome)
    assert outcome.new_leader != outcome.old_leader
    # detection included: ttl 8 s, loop_wait 1 s (target: first write within 10 s)
    assert 0 < outcome.client.rto_seconds < 15, outcome.client


def test_patroni_killed_alone_fences_its_postmaster(patroni_cluster: PatroniCluster) -> None:
    cluster = patroni_cluster
    killed: dict[str, float] = {}

    def kill_patroni(leader: str) -> None:
        cluster.kill_patroni(leader)
        # the launcher stops the orphan's postmaster: it accepts no write from here on
        killed["fenced_after"] = wait_seconds(lambda: not cluster.nodes[leader].is_writer(), 10)

    outcome = run_fault(cluster, kill_patroni, recover=cluster.start_node)
    assert_safe(outcome)
    assert outcome.new_leader != outcome.old_leader
    assert killed["fenced_after"] < 3


def test_postmaster_killed_alone_is_restarted_by_patroni(patroni_cluster: PatroniCluster) -> None:
    outcome = run_fault(patroni_cluster, patroni_cluster.kill_postmaster, expect_new_leader=False)
    assert_safe(outcome)
    assert patroni_cluster.writers() == [outcome.new_leader]


def test_etcd_cut_off_from_the_leader_demotes_it(patroni_cluster: PatroniCluster) -> None:
    cluster = patroni_cluster
    demoted: dict[str, float] = {}

    def cut(leader: str) -> None:
        cluster.nodes[leader].dcs.cut()
        demoted["after"] = wait_seconds(lambda: not cluster.nodes[leader].is_writer(), 20)

    def heal(leader: str) -> None:
        cluster.nodes[leader].dcs.heal()

    outcome = run_fault(cluster, cut, recover=heal)
    assert_safe(outcome)
    assert outcome.new_leader != outcome.old_leader
    # the leader stops accepting writes before the replica may take the lock (ttl)
    assert demoted["after"] < cluster.timings["ttl"]


def test_quorum_loss_leaves_the_leader_read_only(patroni_cluster: PatroniCluster) -> None:
    cluster = patroni_cluster
    leader = cluster.wait_leader(30)
    for node in cluster.nodes.values():
        node.dcs.cut()
    try:
        wait_seconds(lambda: cluster.writers() == [], 20)

        def demoted() -> bool:
            status = cluster.nodes[leader].status() or {}
            return status.get("role") == "replica" and status.get("state") == "running"

        # still up, read-only (Patroni demoted it rather than stopping it)
        wait_seconds(demoted, 20)
        assert cluster.writers() == []
    finally:
        for node in cluster.nodes.values():
            node.dcs.heal()
    cluster.wait_leader(60)
    for name in cluster.replicas():
        cluster.wait_streaming(name, 60)
