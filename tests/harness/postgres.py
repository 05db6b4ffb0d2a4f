"""Throwaway PostgreSQL clusters on free ports: a primary and a streaming replica.

Cluster names are `fxt_<run>_<pid>_<n>_<role>`: the leak check finds a run's clusters by `<run>`,
and `sweep_orphans` drops clusters whose creating pytest process is gone (a killed run).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.harness.processes import HarnessError, free_port, log_tail, wait_until

SOCKET_DIR = "/var/run/postgresql"
_ORPHAN = re.compile(r"^fxt_[0-9a-z]+_(\d+)_")
_counter = itertools.count(1)


def pg_version() -> str:
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(
            f"{what} failed ({result.returncode}): {' '.join(argv)}\n{result.stderr}"
        )
    return result.stdout


def as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass(frozen=True)
class PgCluster:
    version: str
    name: str
    port: int

    @property
    def data_dir(self) -> Path:
        return Path(f"/var/lib/postgresql/{self.version}/{self.name}")

    @property
    def log_path(self) -> Path:
        return Path(f"/var/log/postgresql/postgresql-{self.version}-{self.name}.log")

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"host={SOCKET_DIR} port={self.port} dbname={dbname} user={user}"

    def ctl(self, action: str) -> None:
        argv = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HarnessError(
                f"pg_ctlcluster {self.name} {action} failed: {result.stderr}\n"
                f"--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
            )

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through psql on the socket; return unaligned, tuples-only output."""
        argv = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, self.dsn(dbname)]
        return _run(as_postgres(argv), f"psql on {self.name}").strip()

    def is_ready(self) -> bool:
        argv = ["pg_isready", "-q", "-h", SOCKET_DIR, "-p", str(self.port)]
        return subprocess.run(argv, check=False).returncode == 0

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, check=False
        )


def _create(name: str, settings: Mapping[str, str] | None = None) -> PgCluster:
    cluster = PgCluster(pg_version(), name, free_port())
    options = {"wal_log_hints": "on", "wal_keep_size": "256MB", **(settings or {})}
    _run(
        [
            "pg_createcluster", cluster.version, name, "--port", str(cluster.port),
            *[arg for key, value in options.items() for arg in ("-o", f"{key}={value}")],
            "--", "--auth-local=trust", "--auth-host=trust",
        ],
        f"pg_createcluster {name}",
    )  # fmt: skip
    return cluster


def _empty(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _start(cluster: PgCluster) -> None:
    cluster.ctl("start")
    wait_until(cluster.is_ready, 30, f"cluster {cluster.name} to accept connections")


def create_primary(name: str, settings: Mapping[str, str] | None = None) -> PgCluster:
    """A started cluster; `settings` go into its postgresql.conf."""
    cluster = _create(name, settings)
    try:
        _start(cluster)
    except HarnessError:
        cluster.drop()
        raise
    return cluster


def create_replica(name: str, primary: PgCluster, slot: str) -> PgCluster:
    """A streaming replica of `primary` cloned with pg_basebackup into a fresh cluster."""
    replica = _create(name)
    try:
        _clone(replica, primary, slot)
    except HarnessError:
        replica.drop()
        raise
    return replica


def _clone(node: PgCluster, upstream: PgCluster, slot: str) -> None:
    """Empty `node`'s data directory, pg_basebackup `upstream` into it, start it."""
    _empty(node.data_dir)  # keep the directory: postgres may not create it here
    basebackup = [
        "pg_basebackup", "-h", SOCKET_DIR, "-p", str(upstream.port), "-U", "postgres",
        "-D", str(node.data_dir), "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot,
    ]  # fmt: skip
    _run(as_postgres(basebackup), f"pg_basebackup for {node.name}")
    _start(node)


def reclone(node: PgCluster, upstream: PgCluster, slot: str) -> None:
    """Rebuild `node` (whatever state it is in) as a streaming replica of `upstream`."""
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", node.version, node.name,
                    "stop", "-m", "immediate"], capture_output=True, check=False)  # fmt: skip
    upstream.psql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  f"WHERE slot_name = '{slot}' AND NOT active")  # fmt: skip
    _clone(node, upstream, slot)


@dataclass(frozen=True)
class PgPair:
    primary: PgCluster
    replica: PgCluster
    slot: str

    def drop(self) -> None:
        self.replica.drop()
        self.primary.drop()


def cluster_prefix(run_id: str) -> str:
    """`fxt_<run>_<pid>_<n>`: unique per call; the leak check and the orphan sweep read it."""
    return f"fxt_{run_id}_{os.getpid()}_{next(_counter)}"


def create_pair(run_id: str) -> PgPair:
    """A primary and its streaming replica, both started; dropped together on failure."""
    prefix = cluster_prefix(run_id)
    primary = create_primary(f"{prefix}_primary")
    slot = f"{prefix}_replica"
    try:
        replica = create_replica(f"{prefix}_replica", primary, slot)
    except HarnessError:
        primary.drop()
        raise
    return PgPair(primary, replica, slot)


def sweep_orphans() -> list[str]:
    """Drop test clusters whose creating process no longer exists; return their names."""
    dropped = []
    for line in _run(["pg_lsclusters", "-h"], "pg_lsclusters").splitlines():
        version, name = line.split()[:2]
        match = _ORPHAN.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            PgCluster(version, name, 0).drop()
            dropped.append(name)
    return dropped


MAIN_PORT = 5432


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """CREATE DATABASE `name` on the machine's main cluster (socket, trust auth); yield its
    SQLAlchemy URL; DROP it afterwards (with its connections)."""
    main = PgCluster(pg_version(), "main", MAIN_PORT)
    main.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    main.psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@/{name}?host={SOCKET_DIR}&port={MAIN_PORT}"
    finally:
        main.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
