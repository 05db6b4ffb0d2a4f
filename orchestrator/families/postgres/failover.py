"""The failover steps: who is primary, take the primary down (planned: a clean stop; unplanned:
confirm it is lost), fence it, promote the replica, verify writes, and the rollback that leaves
exactly one writable node behind the endpoint."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.client import connect
from orchestrator.families.postgres.nodes import (
    NodeControlError,
    NodeState,
    control_data,
    is_running,
    lsn_int,
    lsn_text,
    node_state,
    postmaster_pid,
    run_command,
    start,
    stop,
    wait_for,
    wal_end_after,
    write_standby_signal,
)
from orchestrator.families.postgres.topology import ClusterConfig, NodeConfig


class FailoverError(FluxoraError):
    """An expected failure of a failover step; the message says what to do."""


class Mode(StrEnum):
    PLANNED = "planned"
    """Switchover: stop the primary cleanly, promote once the replica replayed everything."""
    UNPLANNED = "unplanned"
    """Failover: the primary is lost; confirm it, fence it, promote what the replica has."""


@dataclass(frozen=True)
class Roles:
    primary: str
    replica: str
    home: str


def roles(cluster: ClusterConfig, aws: Any) -> Roles:
    """The primary is whichever node the endpoint names; the replica is the other one."""
    primary = endpoint.current(cluster, aws)
    if primary is None:
        raise FailoverError("the endpoint names no configured node; repoint it by hand first")
    others = sorted(n for n in cluster.nodes if n not in (primary, cluster.dr_node))
    if not others:
        raise FailoverError(f"cluster has no node besides {primary!r} to fail over to")
    return Roles(primary=primary, replica=others[0], home=cluster.home)


def resolve_node(cluster: ClusterConfig, name: str, aws: Any) -> str:
    """A node name, or a role resolved now: `@primary` (the endpoint's node), `@replica`,
    `@home` (the designed primary), `@dr` (the DR region's node)."""
    if name == "@home":
        return cluster.home
    if name == "@dr":
        if cluster.dr_node is None:
            raise FailoverError("the cluster has no dr_node configured")
        return cluster.dr_node
    if name in ("@primary", "@replica"):
        found = roles(cluster, aws)
        return found.primary if name == "@primary" else found.replica
    cluster.node(name)  # an unknown name fails here, naming the known ones
    return name


def writers(cluster: ClusterConfig) -> list[str]:
    """The nodes that accept writes now (reachable and not in recovery)."""
    return [name for name in sorted(cluster.nodes) if _is_writer(cluster.node(name))]


# --- primary down --------------------------------------------------------------------------------


def stop_cleanly(node: NodeConfig, name: str) -> dict[str, Any]:
    """Planned: a checkpoint, a fast (clean) stop; the shutdown checkpoint's LSN is the end of
    the primary's WAL, which the replica must replay before it is promoted."""
    state = node_state(node)
    if not state.reachable:
        raise FailoverError(
            f"{name} is not reachable ({state.error}); a planned switchover "
            "needs a running primary (use mode=unplanned)"
        )
    if state.in_recovery:
        raise FailoverError(f"{name} is in recovery, not a primary")
    with connect(node, "postgres") as conn:
        conn.execute(b"CHECKPOINT")
    stopped_at = time.time()
    stop(node, "fast", 30)
    return {
        "node": name,
        "mode": Mode.PLANNED.value,
        "end_lsn": _end_lsn(node, state),
        "stopped_at": stopped_at,
    }


def _end_lsn(node: NodeConfig, before: NodeState) -> str:
    if node.data_dir is None:
        return lsn_text(before.lsn)  # remote: the last position read before the stop
    data = control_data(node)
    if data.get("Database cluster state") != "shut down":
        raise FailoverError(
            f"primary did not shut down cleanly: {data.get('Database cluster state')}"
        )
    return data["Latest checkpoint location"]


def confirm_lost(
    node: NodeConfig, name: str, checks: int, interval: float, cancelled: threading.Event
) -> dict[str, Any]:
    """Unplanned: the primary must fail `checks` connection attempts in a row."""
    for number in range(checks):
        if number:
            time.sleep(interval)
        if cancelled.is_set():
            raise FailoverError("cancelled while confirming the primary is lost")
        state = node_state(node)
        if state.reachable:
            role = "a standby" if state.in_recovery else "a primary accepting connections"
            raise FailoverError(
                f"{name} answers as {role}; refusing an unplanned failover "
                "(use mode=planned for a switchover)"
            )
    return {
        "node": name,
        "mode": Mode.UNPLANNED.value,
        "end_lsn": None,
        "lost_at": time.time(),
        "error": state.error,
    }


def crash(node: NodeConfig, name: str) -> None:
    """A drill's fault: stop the primary the way a crash would (immediate, no checkpoint)."""
    if node.data_dir is None:
        raise FailoverError(f"inject_fault needs a local node; {name} has no data_dir")
    stop(node, "immediate", 10)


# --- fence ---------------------------------------------------------------------------------------


def fence(cluster: ClusterConfig, name: str, candidate: str, aws: Any) -> dict[str, Any]:
    """Make `name` unable to accept writes: off the endpoint, stopped, and (local) marked to
    come back only as a standby. Fails when it still accepts writes afterwards."""
    node = cluster.node(name)
    fenced_by: list[str] = []
    if endpoint.current(cluster, aws) == name:
        endpoint.repoint(cluster, candidate, aws)  # clients reach a read-only node meanwhile
        fenced_by.append(f"endpoint repointed to {candidate}")
    fenced_by += _stop_any_way(node)
    fenced_by.append(_keep_down(node))
    state = node_state(node)
    if state.reachable and not state.in_recovery:
        raise FailoverError(f"{name} still accepts writes after fencing ({', '.join(fenced_by)})")
    return {"node": name, "fenced_by": fenced_by, "reachable": state.reachable}


def _keep_down(node: NodeConfig) -> str:
    """So that it cannot come back as a primary: standby.signal (local), else the node's
    fence_command; an unreachable remote node without one is fenced by the endpoint only."""
    if node.data_dir is not None:
        return f"wrote {write_standby_signal(node)}"
    if node.fence_command is None:
        return "no fence_command: fenced by the endpoint only"
    try:
        run_command(list(node.fence_command), "fence_command", 60)
    except NodeControlError as exc:
        return f"{exc}; fenced by the endpoint only"
    return "fence_command"


def _stop_any_way(node: NodeConfig) -> list[str]:
    if node.data_dir is None:
        if node.stop_command is None:
            return []
        try:
            stop(node, "fast", 10)
        except NodeControlError as exc:
            return [f"stop_command failed ({exc})"]
        return ["stop_command"]
    if not is_running(node):
        return ["not running"]
    for mode in ("fast", "immediate"):
        try:
            stop(node, mode, 10)
        except NodeControlError:
            continue
        return [f"stopped ({mode})"]
    return _kill(node)


def _kill(node: NodeConfig) -> list[str]:
    """A postmaster that ignores both stop modes (hung): SIGKILL, then wait for it to go."""
    pid = postmaster_pid(node)
    if pid is None:
        return ["not running"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "postmaster exit", threading.Event())
    return [f"killed postmaster {pid}"]


# --- promote -------------------------------------------------------------------------------------


def promote(
    cluster: ClusterConfig,
    name: str,
    *,
    old: str | None,
    wait_for_lsn: str | None,
    timeout: float,
    cancelled: threading.Event,
) -> dict[str, Any]:
    node = cluster.node(name)
    state = node_state(node)
    if not state.reachable:
        raise FailoverError(f"cannot promote {name}: {state.error}")
    if not state.in_recovery:
        raise FailoverError(f"{name} is not a standby (already a primary?); nothing to promote")
    if wait_for_lsn:
        state = _wait_replayed(node, name, lsn_int(wait_for_lsn), timeout, cancelled)
    received = max(state.lsn, state.received_lsn)
    lost = 0 if wait_for_lsn else _lost_wal_bytes(cluster, old, received)
    with connect(node, "postgres") as conn:
        conn.execute(b"SELECT pg_promote(wait => true, wait_seconds => %d)" % int(timeout))
    wait_for(
        lambda: not node_state(node).in_recovery, timeout, f"{name} out of recovery", cancelled
    )
    return {
        "node": name,
        "promoted_at": time.time(),
        "promoted_from_lsn": lsn_text(received),
        "lost_wal_bytes": lost,
    }


def _wait_replayed(
    node: NodeConfig, name: str, end: int, timeout: float, cancelled: threading.Event
) -> NodeState:
    """The replay position passes the primary's shutdown checkpoint (local primaries: from
    pg_controldata) and everything received is replayed (a fast shutdown sends all WAL to the
    standbys before the postmaster exits; for a remote primary, `end` is its last position read
    before the stop): nothing is lost."""

    def replayed() -> bool:
        state = node_state(node)
        return state.lsn > end and state.lsn >= state.received_lsn

    try:
        wait_for(replayed, timeout, f"{name} to replay", cancelled)
    except FluxoraError as exc:
        state = node_state(node)
        raise FailoverError(
            f"{name} replayed up to {lsn_text(state.lsn)}, the primary stopped "
            f"at {lsn_text(end)}: not promoting ({exc})"
        ) from exc
    return node_state(node)


def _lost_wal_bytes(cluster: ClusterConfig, old: str | None, received: int) -> int | None:
    """WAL the old primary wrote that the replica never received (local, stopped nodes)."""
    if old is None:
        return None
    node = cluster.node(old)
    if node.data_dir is None or is_running(node):
        return None
    return wal_end_after(node, received) - received


# --- verify and roll back ------------------------------------------------------------------------

WRITE_CHECK_SQL = """CREATE TABLE IF NOT EXISTS fluxora_dr_write_check (
    id bigserial PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    job_id text)"""


def verify_writes(
    cluster: ClusterConfig, expect: str | None, job_id: str | None, aws: Any
) -> dict[str, Any]:
    """A row written and read back through the endpoint, on the node we expect."""
    name = endpoint.current(cluster, aws)
    if name is None:
        raise FailoverError("the endpoint names no configured node")
    if expect is not None and name != expect:
        raise FailoverError(f"the endpoint names {name}, expected {expect}")
    with connect(cluster.node(name), cluster.dbname) as conn:
        conn.execute(WRITE_CHECK_SQL.encode())
        row = conn.execute(
            b"INSERT INTO fluxora_dr_write_check (job_id) VALUES (%s) RETURNING id", [job_id]
        ).fetchone()
    assert row is not None
    return {"node": name, "row_id": row[0]}


def restore_writer(
    cluster: ClusterConfig, fenced: str, aws: Any, cancelled: threading.Event
) -> dict[str, Any]:
    """Rollback: if another node was promoted, keep it and point the endpoint there; else
    unfence `fenced` (its standby.signal removed, started) and point the endpoint back."""
    found = writers(cluster)
    writer = fenced if fenced in found else next(iter(found), None)
    actions = []
    if writer is None:
        _unfence(cluster.node(fenced), fenced, cancelled)
        writer, actions = fenced, [f"unfenced {fenced}"]
    endpoint.repoint(cluster, writer, aws)
    return {"writer": writer, "actions": [*actions, f"endpoint names {writer}"]}


def _is_writer(node: NodeConfig) -> bool:
    state = node_state(node)
    return state.reachable and not state.in_recovery


def _unfence(node: NodeConfig, name: str, cancelled: threading.Event) -> None:
    if node.data_dir is None:
        raise FailoverError(f"{name} is remote; start it as a primary by hand")
    (node.data_dir / "standby.signal").unlink(missing_ok=True)
    if is_running(node):
        stop(node, "fast", 30)  # it came back as a standby: restart it as a primary
    start(node)
    wait_for(lambda: _is_writer(node), 60, f"{name} to accept writes", cancelled)
