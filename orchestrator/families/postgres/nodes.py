"""Reaching one PostgreSQL node (is it up, is it a primary), running a node's own commands
(a drill's fault, bringing it back, fencing), and waiting on a condition."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from orchestrator.core.children import Children, ChildStartError
from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.client import DatabaseUnavailableError, connect
from orchestrator.families.postgres.topology import NodeConfig

Conn = psycopg.Connection[tuple[object, ...]]


class NodeControlError(FluxoraError):
    """A command that controls a node failed; the message names the command and its error."""


class WaitTimeoutError(FluxoraError, TimeoutError):
    pass


class CancelledError(FluxoraError):
    pass


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    cancelled: threading.Event,
    interval: float = 0.05,
) -> None:
    """Poll `condition` until true; raise WaitTimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if cancelled.is_set():
            raise CancelledError(f"cancelled while waiting for {what}")
        if time.monotonic() > deadline:
            raise WaitTimeoutError(f"{what} did not happen within {timeout:g}s")
        time.sleep(interval)


@dataclass(frozen=True)
class NodeState:
    reachable: bool
    in_recovery: bool = False
    error: str = ""


def node_state(node: NodeConfig, dbname: str = "postgres") -> NodeState:
    try:
        with connect(node, dbname) as conn:
            row = conn.execute(b"SELECT pg_is_in_recovery()").fetchone()
    except (DatabaseUnavailableError, psycopg.Error) as exc:
        return NodeState(reachable=False, error=" ".join(str(exc).split()))
    assert row is not None
    return NodeState(True, bool(row[0]))


def run_command(
    argv: list[str],
    what: str,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    children: Children | None = None,
) -> str:
    """`argv` in a process group of its own (killed with its group on a timeout, or when
    `children` is cancelled); its stdout, or NodeControlError naming `what`."""
    try:
        result = (children or Children.standalone()).run(argv, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise NodeControlError(f"{what}: {argv[0]} did not finish within {timeout:g}s") from None
    except ChildStartError as exc:
        raise NodeControlError(f"{what}: {exc}") from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise NodeControlError(f"{what} failed ({result.returncode}): {lines[-1]}")
    return result.stdout


def open_connection(node: NodeConfig, dbname: str, connect_timeout: int = 2) -> Conn:
    """A plain autocommit connection the caller closes (the probe keeps one open)."""
    return psycopg.connect(
        host=node.host,
        port=node.port,
        user=node.user,
        password=node.password(),
        dbname=dbname,
        connect_timeout=connect_timeout,
        application_name="fluxora-probe",
        autocommit=True,
    )
