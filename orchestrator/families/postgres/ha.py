"""Failover, switchover and drills of a cluster run by Patroni: Patroni elects, promotes,
demotes and rejoins (pg_rewind); the orchestrator asks it through its REST API, injects a
drill's fault, waits on the state Patroni reports (never on a fixed delay), and checks the
invariants: one writer, the old leader back as a replica. A writer that is not Patroni's
leader (an orphan whose Patroni and launcher are gone) is fenced."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.nodes import NodeControlError, node_state, run_command
from orchestrator.families.postgres.patroni import Member, PatroniApi, PatroniError
from orchestrator.families.postgres.topology import ClusterConfig


class HaError(FluxoraError):
    """An expected failure of an HA step; the message says what to do."""


class Mode(StrEnum):
    PLANNED = "planned"
    """Switchover: Patroni demotes the leader cleanly and promotes the sync standby."""
    UNPLANNED = "unplanned"
    """Failover: the leader is lost (or, in a drill, crashed on purpose); Patroni promotes
    the sync standby once the leader key expires; a manual failover if it does not."""


_NO_LEADER = (
    "Patroni reports no leader: the cluster accepts no writes (etcd quorum lost, or every "
    "node down?)"
)


@dataclass(frozen=True)
class Roles:
    primary: str
    replica: str
    home: str


def _members(cluster: ClusterConfig) -> tuple[str, list[Member]]:
    """The leader as the DCS has it, and every member. No leader: the cluster is read-only,
    and the error says why."""
    try:
        members = PatroniApi(cluster).members()
    except PatroniError as exc:
        raise HaError(f"{_NO_LEADER} [{exc}]") from exc
    leader = next((m.name for m in members if m.role == "leader"), None)
    if leader is None:
        states = ", ".join(f"{m.name}: {m.role} {m.state}" for m in members) or "no members"
        raise HaError(f"{_NO_LEADER} [{states}]")
    return leader, members


def leader(cluster: ClusterConfig) -> str:
    return _members(cluster)[0]


def roles(cluster: ClusterConfig) -> Roles:
    """The leader, and the replica Patroni would promote (the sync standby, else any
    replica)."""
    lead, members = _members(cluster)
    ranked = sorted(
        (m for m in members if m.name not in (lead, cluster.dr_node)),
        key=lambda m: (m.role != "sync_standby", m.name),
    )
    if not ranked:
        raise HaError(f"the cluster has no replica besides the leader {lead}")
    return Roles(primary=lead, replica=ranked[0].name, home=cluster.home)


def writers(cluster: ClusterConfig, *, members_only: bool = False) -> list[str]:
    """The cluster's nodes that accept writes now (reachable and not in recovery). With
    `members_only`, Patroni's members alone: the DR region's node is a standalone server of
    its own that region evacuation restores into, writable by design. Failover neither counts
    it (counted, it failed every staging failover drill) nor fences it; region evacuation
    counts it (after an evacuation it is the one writer)."""
    skipped = {cluster.dr_node} if members_only else set()
    found = []
    for name in sorted(set(cluster.nodes) - skipped):
        state = node_state(cluster.node(name))
        if state.reachable and not state.in_recovery:
            found.append(name)
    return found


def handover(
    cluster: ClusterConfig,
    mode: Mode,
    leader: str,
    candidate: str,
    *,
    inject_fault: bool,
) -> dict[str, Any]:
    """Planned: POST /switchover. Unplanned drill: crash the leader's whole node (its
    fault_command). Unplanned without a fault: the leader is already lost; Patroni fails over
    by itself (`wait_leader` asks for a manual failover if it does not)."""
    api = PatroniApi(cluster)
    at = time.time()
    if mode is Mode.PLANNED:
        answer = api.switchover(leader, candidate)
        return {"mode": mode.value, "old": leader, "at": at, "patroni": answer}
    if inject_fault:
        crash_node(cluster, leader)
        return {"mode": mode.value, "old": leader, "at": at, "fault": "node killed"}
    return {"mode": mode.value, "old": leader, "at": at, "fault": None}


def crash_node(cluster: ClusterConfig, name: str) -> None:
    command = cluster.node(name).fault_command
    if command is None:
        raise HaError(f"node {name} has no fault_command: a drill cannot crash it")
    run_command(list(command), f"fault_command of {name}", 60)


def wait_leader(
    cluster: ClusterConfig,
    old: str,
    candidate: str,
    timeout: float,
    cancelled: threading.Event,
) -> dict[str, Any]:
    """A new leader other than `old`. If Patroni has elected none by half the timeout
    (automatic failover refused, e.g. the replica was not known to be synchronous), ask for a
    manual failover to `candidate` and wait the rest."""
    api = PatroniApi(cluster)
    started = time.monotonic()
    manual = None
    try:
        leader = api.wait_leader(timeout / 2, cancelled, other_than=old)
    except FluxoraError:
        manual = _manual_failover(api, candidate)
        leader = api.wait_leader(timeout / 2, cancelled, other_than=old)
    return {
        "leader": leader,
        "elected_at": time.time(),
        "waited_seconds": round(time.monotonic() - started, 3),
        "manual_failover": manual,
    }


def _manual_failover(api: PatroniApi, candidate: str) -> str:
    try:
        return api.failover(candidate)
    except PatroniError as exc:
        raise HaError(f"no leader elected and manual failover refused: {exc}") from exc


def rejoin(
    cluster: ClusterConfig, name: str, timeout: float, cancelled: threading.Event
) -> dict[str, Any]:
    """Bring `name` back (its start_command, when its Patroni does not answer) and wait until
    Patroni reports it as a replica on the leader's timeline (pg_rewind is Patroni's)."""
    api = PatroniApi(cluster)
    started = time.monotonic()
    restarted = False
    try:
        api.status(name)
    except PatroniError:
        command = cluster.node(name).start_command
        if command is None:
            raise HaError(f"{name}'s Patroni does not answer and it has no start_command") from None
        run_command(list(command), f"start_command of {name}", 60)
        restarted = True
    member = api.wait_replica(name, timeout, cancelled)
    return {
        "node": name,
        "restarted": restarted,
        "role": member.role,
        "timeline": member.timeline,
        "rejoin_seconds": round(time.monotonic() - started, 3),
    }


def fence_orphans(cluster: ClusterConfig) -> dict[str, Any]:
    """With more than one writer, every writer that is not Patroni's leader is an orphan:
    stop it with its fence_command. Fails when one is left accepting writes."""
    found = writers(cluster, members_only=True)
    if len(found) <= 1:
        return {"writers": found, "fenced": {}}
    try:
        leader = PatroniApi(cluster).leader()
    except PatroniError as exc:
        raise HaError(f"{len(found)} writers ({', '.join(found)}) and {exc}") from exc
    if leader is None:
        raise HaError(f"{len(found)} writers ({', '.join(found)}) and Patroni names no leader")
    orphans = [name for name in found if name != leader]
    fenced = {name: _fence(cluster, name) for name in orphans}
    left = [name for name in writers(cluster, members_only=True) if name in orphans]
    if left:
        raise HaError(f"still accepting writes after fencing: {', '.join(left)} ({fenced})")
    return {"writers": found, "leader": leader, "fenced": fenced}


def _fence(cluster: ClusterConfig, name: str) -> str:
    command = cluster.node(name).fence_command
    if command is None:
        raise HaError(f"{name} accepts writes but is not the leader, and has no fence_command")
    try:
        run_command(list(command), f"fence_command of {name}", 60)
    except NodeControlError as exc:
        return str(exc)
    return "fence_command"
