"""Reaching and controlling one PostgreSQL node: its role and WAL position, pg_ctlcluster or
the node's own commands, the control file, and the files that make it a standby."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.client import DatabaseUnavailableError, connect
from orchestrator.families.postgres.tools import find_tool
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
    lsn: int = 0  # current (primary) or last replayed (standby) WAL position
    received_lsn: int = 0  # standby: last WAL received
    error: str = ""


def lsn_int(text: object) -> int:
    high, low = str(text).split("/")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


_STATE_SQL = """SELECT pg_is_in_recovery(),
    CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
    coalesce(pg_last_wal_receive_lsn(), '0/0')"""


def node_state(node: NodeConfig, dbname: str = "postgres") -> NodeState:
    try:
        with connect(node, dbname) as conn:
            row = conn.execute(_STATE_SQL.encode()).fetchone()
    except (DatabaseUnavailableError, psycopg.Error) as exc:
        return NodeState(reachable=False, error=" ".join(str(exc).split()))
    assert row is not None
    return NodeState(True, bool(row[0]), lsn_int(row[1] or "0/0"), lsn_int(row[2]))


def run_command(
    argv: list[str], what: str, timeout: float = 120, env: dict[str, str] | None = None
) -> str:
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise NodeControlError(f"{what}: {argv[0]} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise NodeControlError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise NodeControlError(f"{what} failed ({result.returncode}): {lines[-1]}")
    return result.stdout


def as_owner(node: NodeConfig, argv: list[str]) -> list[str]:
    """Run as the data directory's owner (initdb, pg_rewind and friends refuse root)."""
    if os.geteuid() == 0 and node.run_as != "root":
        return ["runuser", "-u", node.run_as, "--", *argv]
    return argv


def ctl_argv(node: NodeConfig, action: str, options: list[str], pg_ctl: list[str]) -> list[str]:
    """pg_ctlcluster for a local node; the node's own command for a remote one."""
    if node.cluster is None:
        command = node.stop_command if action == "stop" else node.start_command
        if command is None:
            raise NodeControlError(f"node has no cluster and no {action}_command to {action} it")
        return list(command)
    return [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        *options,
        str(node.version),
        str(node.cluster_name),
        action,
        "--",
        *pg_ctl,
    ]


def is_running(node: NodeConfig) -> bool:
    """Local nodes: whether a postmaster holds the data directory (postmaster.pid, live pid)."""
    pid = postmaster_pid(node)
    return pid is not None and Path(f"/proc/{pid}").exists()


def postmaster_pid(node: NodeConfig) -> int | None:
    assert node.data_dir is not None
    try:
        first = (node.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.strip().isdigit() else None


def stop(node: NodeConfig, mode: str, timeout: float) -> None:
    argv = ctl_argv(node, "stop", ["-m", mode], ["-t", str(max(1, int(timeout)))])
    run_command(argv, f"stop ({mode})", timeout + 10)


def start(node: NodeConfig, timeout: float = 120) -> None:
    run_command(ctl_argv(node, "start", [], ["-t", str(int(timeout))]), "start", timeout + 10)


def control_data(node: NodeConfig) -> dict[str, str]:
    """pg_controldata of a local node's data directory, as a dict."""
    assert node.data_dir is not None
    argv = [find_tool("pg_controldata", node.bin_dir), "-D", str(node.data_dir)]
    out = run_command(argv, "pg_controldata")
    pairs = (line.partition(":") for line in out.splitlines())
    return {key.strip(): value.strip() for key, _, value in pairs if value}


def write_standby_signal(node: NodeConfig) -> Path:
    """A postmaster started on this data directory comes up as a read-only standby."""
    assert node.data_dir is not None
    signal = node.data_dir / "standby.signal"
    signal.touch()
    _chown_like_data_dir(node, signal)
    return signal


def _chown_like_data_dir(node: NodeConfig, path: Path) -> None:
    assert node.data_dir is not None
    owner = node.data_dir.stat()
    if os.geteuid() == 0:
        os.chown(path, owner.st_uid, owner.st_gid)


_WAL_RECORD = re.compile(
    r"len \(rec/tot\):\s*\d+/\s*(?P<tot>\d+),.*?lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+)"
)


def wal_end_after(node: NodeConfig, start_lsn: int) -> int:
    """The end of the last valid WAL record in a stopped local node's pg_wal after
    `start_lsn` (`start_lsn` itself when there is none): what a replica at `start_lsn` lacks."""
    assert node.data_dir is not None
    timeline = control_data(node).get("Latest checkpoint's TimeLineID", "1")
    argv = [
        find_tool("pg_waldump", node.bin_dir),
        "-p",
        str(node.data_dir / "pg_wal"),
        "-t",
        timeline,
        "-s",
        lsn_text(start_lsn),
    ]
    # pg_waldump exits non-zero at the end of valid WAL, which is what we are after.
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    end = start_lsn
    for match in _WAL_RECORD.finditer(result.stdout):
        end = max(end, lsn_int(match.group("lsn")) + int(match.group("tot")))
    return end


def empty_directory(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


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
