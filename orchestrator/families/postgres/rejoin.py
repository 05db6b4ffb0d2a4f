"""Rebuild a node as a streaming replica of the current primary: pg_rewind when its history
can be rewound, else a fresh clone with pg_basebackup. Local nodes only (it needs the data
directory)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from orchestrator.families.postgres.client import connect, libpq_env
from orchestrator.families.postgres.failover import FailoverError
from orchestrator.families.postgres.nodes import (
    NodeControlError,
    WaitTimeoutError,
    as_owner,
    control_data,
    empty_directory,
    is_running,
    node_state,
    run_command,
    start,
    stop,
    wait_for,
    write_standby_signal,
)
from orchestrator.families.postgres.tools import find_tool
from orchestrator.families.postgres.topology import ClusterConfig, NodeConfig

_CLEAN_STATES = ("shut down", "shut down in recovery")
_STANDBY_SETTINGS = ("primary_conninfo", "primary_slot_name")


class Method(StrEnum):
    AUTO = "auto"
    """pg_rewind, and a fresh clone when it fails."""
    REWIND = "rewind"
    CLONE = "clone"


def slot_name(node: str) -> str:
    return "fluxora_" + re.sub(r"[^a-z0-9_]", "_", node.lower())


def plan(cluster: ClusterConfig, name: str, upstream: str, method: Method) -> dict[str, Any]:
    node = cluster.node(name)
    source = cluster.node(upstream)
    server = f"host={source.host} port={source.port}"
    commands = {
        Method.REWIND: [f"pg_rewind -D {node.data_dir} --source-server='{server}'"],
        Method.CLONE: [
            f"pg_basebackup -D {node.data_dir} -X stream -c fast -S {slot_name(name)} ({server})"
        ],
    }
    if method is Method.AUTO:
        chosen = [*commands[Method.REWIND], "if it fails:", *commands[Method.CLONE]]
    else:
        chosen = commands[method]
    return {
        "node": name,
        "upstream": upstream,
        "sql_on_upstream": f"SELECT pg_create_physical_replication_slot('{slot_name(name)}')",
        "commands": chosen,
        "then": "standby.signal, primary_conninfo, start, wait until streaming and caught up",
    }


def rejoin(
    cluster: ClusterConfig,
    name: str,
    upstream: str,
    method: Method,
    cancelled: threading.Event,
) -> dict[str, Any]:
    node, source = cluster.node(name), cluster.node(upstream)
    if node.data_dir is None:
        raise FailoverError(f"rejoin needs a local node with data_dir; rebuild {name} by hand")
    _check_upstream(source, upstream)
    _stop_cleanly(node, name)
    _prepare_upstream(source, slot_name(name))
    started = time.monotonic()
    rewind_error = None
    if method is not Method.CLONE:
        rewind_error = _attempt(node, source, name, cancelled, _rewind)
        if rewind_error is None:
            return _outcome(name, upstream, Method.REWIND, None, started)
        if method is Method.REWIND:
            raise FailoverError(f"pg_rewind of {name} failed: {rewind_error}")
    clone_error = _attempt(node, source, name, cancelled, _clone)
    if clone_error is not None:
        raise FailoverError(f"fresh clone of {name} failed: {clone_error}")
    return _outcome(name, upstream, Method.CLONE, rewind_error, started)


def _outcome(
    name: str, upstream: str, used: Method, rewind_error: str | None, started: float
) -> dict[str, Any]:
    return {
        "node": name,
        "upstream": upstream,
        "method": used.value,
        "rewind_error": rewind_error,
        "seconds": time.monotonic() - started,
    }


def _attempt(
    node: NodeConfig,
    source: NodeConfig,
    name: str,
    cancelled: threading.Event,
    rebuild: Callable[[NodeConfig, NodeConfig, str], None],
) -> str | None:
    """Rebuild, configure as a standby, start, wait until it streams: None, or the error.
    A rewind that "succeeds" but leaves a directory that cannot start counts as failed."""
    try:
        rebuild(node, source, name)
        _configure_standby(node, source, name)
        start(node)
        _wait_streaming(source, name, cancelled)
    except (NodeControlError, WaitTimeoutError) as exc:
        if is_running(node):
            stop(node, "immediate", 30)
        return str(exc)
    return None


def _check_upstream(source: NodeConfig, upstream: str) -> None:
    state = node_state(source)
    if not state.reachable or state.in_recovery:
        why = state.error if not state.reachable else "it is in recovery"
        raise FailoverError(f"upstream {upstream} is not a reachable primary ({why})")


def _stop_cleanly(node: NodeConfig, name: str) -> None:
    """pg_rewind wants a cleanly stopped target: a crashed one is started as a standby (its
    standby.signal keeps it read-only), which finishes crash recovery, then stopped."""
    state = node_state(node)
    if state.reachable and not state.in_recovery:
        raise FailoverError(f"{name} runs as a primary; fence it before rejoining it")
    if not is_running(node) and control_data(node).get("Database cluster state") in _CLEAN_STATES:
        return
    if not is_running(node):
        write_standby_signal(node)
        start(node)
    stop(node, "fast", 60)


def _prepare_upstream(source: NodeConfig, slot: str) -> None:
    """A slot for the node; and a checkpoint, because pg_rewind reads the source's timeline
    from its control file, which a just-promoted server updates only at its next checkpoint."""
    with connect(source, "postgres") as conn:
        conn.execute(b"CHECKPOINT")
        conn.execute(
            b"SELECT pg_create_physical_replication_slot(%s) WHERE NOT EXISTS "
            b"(SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
            [slot, slot],
        )


def _tool_env(source: NodeConfig) -> dict[str, str]:
    return {**os.environ, **libpq_env(source, "postgres")}


def _rewind(node: NodeConfig, source: NodeConfig, name: str) -> None:
    argv = [
        find_tool("pg_rewind", node.bin_dir),
        "-D",
        str(node.data_dir),
        "--source-server",
        "dbname=postgres",
    ]
    run_command(as_owner(node, argv), "pg_rewind", 3600, _tool_env(source))


def _clone(node: NodeConfig, source: NodeConfig, name: str) -> None:
    assert node.data_dir is not None
    empty_directory(node.data_dir)
    argv = [
        find_tool("pg_basebackup", node.bin_dir),
        "-D",
        str(node.data_dir),
        "-X",
        "stream",
        "-c",
        "fast",
        "-S",
        slot_name(name),
    ]
    run_command(as_owner(node, argv), "pg_basebackup", 3600, _tool_env(source))


def _configure_standby(node: NodeConfig, source: NodeConfig, name: str) -> None:
    """standby.signal plus our primary_conninfo/slot, replacing any the copy brought along
    (the password comes from the owner's ~/.pgpass, never from this file)."""
    assert node.data_dir is not None
    auto = node.data_dir / "postgresql.auto.conf"
    kept = [
        line
        for line in (auto.read_text(encoding="utf-8").splitlines() if auto.exists() else [])
        if not line.strip().startswith(_STANDBY_SETTINGS)
    ]
    conninfo = f"host={source.host} port={source.port} user={source.user} application_name={name}"
    kept += [f"primary_conninfo = '{conninfo}'", f"primary_slot_name = '{slot_name(name)}'"]
    auto.write_text("\n".join(kept) + "\n", encoding="utf-8")
    write_standby_signal(node)


def _wait_streaming(source: NodeConfig, name: str, cancelled: threading.Event) -> None:
    def caught_up() -> bool:
        with connect(source, "postgres") as conn:
            row = conn.execute(
                b"SELECT replay_lsn >= pg_current_wal_lsn() FROM pg_stat_replication "
                b"WHERE application_name = %s AND state = 'streaming'",
                [name],
            ).fetchone()
        return bool(row and row[0])

    wait_for(caught_up, 120, f"{name} to stream from its upstream and catch up", cancelled, 0.1)
