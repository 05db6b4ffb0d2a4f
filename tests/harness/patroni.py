"""A real Patroni cluster on loopback: one etcd member and N Patroni nodes, each on free ports
and in its own directory, each started by the launcher that fluxora.postgres installs
(`fluxora-patroni`, which fences the postmaster when Patroni dies).

Every node reaches etcd through a proxy of its own, so a test can cut etcd off from one node
(a network partition) and heal it. The DCS timings are the ones the states ship
(salt/states/fluxora/postgres/parameters/defaults.yaml, `patroni:dcs`), unless a test (the
benchmark's baseline) passes others. Directories are /var/tmp/fxt_<run>_<pid>_patroni_<n>:
the postgres user must be able to reach them, and the run id finds what a killed run left.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml

from orchestrator.families.postgres.probe import (
    Measurement,
    ProbeWrite,
    WriteProbe,
    measure,
    present_rows,
)
from tests.harness.processes import (
    HarnessError,
    ServerProcess,
    free_port,
    http_ok,
    log_tail,
    start_server,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "salt/states/fluxora/postgres/files/fluxora-patroni"
DEFAULTS = REPO / "salt/states/fluxora/postgres/parameters/defaults.yaml"
BIN_DIR = "/usr/lib/postgresql/15/bin"
# The REST API user the fluxora.postgres state configures (its password is per cluster here).
REST_USER = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))["patroni"]["rest_username"]
PATRONI_DEFAULT_TIMINGS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
_counter = itertools.count(1)


def shipped_timings() -> dict[str, int]:
    """ttl, loop_wait and retry_timeout as the states configure them."""
    dcs = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))["patroni"]["dcs"]
    return {key: int(dcs[key]) for key in PATRONI_DEFAULT_TIMINGS}


class Partition:
    """A TCP forwarder between one node and etcd that a test can cut (every connection
    closed, new ones refused) and heal (forwarding again on the same port)."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.heal()

    def heal(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
            listener = self._listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for pair in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=pair, daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def start_etcd(base: Path) -> ServerProcess:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    data = base / "etcd"
    argv = [
        "etcd", "--name", "etcd1", "--data-dir", str(data),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"etcd1=http://127.0.0.1:{peer}",
        "--initial-cluster-state", "new", "--initial-cluster-token", base.name,
    ]  # fmt: skip
    return start_server("etcd", argv, base / "etcd.log", url, http_ok(f"{url}/health"))


@dataclass
class PatroniNode:
    name: str
    scope: str
    base: Path
    pg_port: int
    rest_port: int
    dcs: Partition

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def config_path(self) -> Path:
        return self.base / "patroni.yml"

    @property
    def log_path(self) -> Path:
        return self.base / "data.patroni.log"  # where `fluxora-patroni start` writes

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.pg_port} dbname={dbname} user=postgres"

    def status(self) -> dict[str, Any] | None:
        """GET /patroni: this node's role, state and timeline; None when it does not answer."""
        try:
            return rest_get(self.rest_url, "/patroni")
        except HarnessError:
            return None

    def launcher_pids(self) -> tuple[int, int] | None:
        """The launcher's pid file (in the socket directory, the node's own here)."""
        pidfile = self.base / f"fluxora-patroni.{self.scope}.{self.name}.pid"
        with contextlib.suppress(OSError, ValueError):
            launcher, patroni = (int(x) for x in pidfile.read_text().split()[:2])
            return launcher, patroni
        return None

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        return None

    def is_writer(self) -> bool:
        """A write commits on this node now (a read-only or absent node is not a writer)."""
        try:
            with psycopg.connect(self.dsn() + " connect_timeout=1", autocommit=True) as conn:
                conn.execute("SET statement_timeout = '1s'")
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                return row is not None and not row[0]
        except psycopg.Error:
            return False


def _alive(pid: int | None) -> bool:
    """Running (a zombie counts as gone)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def rest_get(url: str, path: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url + path, timeout=2) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:  # 503 from /patroni still carries the state
        body = exc.read()
        with contextlib.suppress(ValueError):
            return dict(json.loads(body))
        raise HarnessError(f"{url}{path}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise HarnessError(f"{url}{path}: {exc}") from exc


def node_config(
    scope: str, node: PatroniNode, timings: dict[str, int], synchronous: bool, rest_password: str
) -> dict[str, Any]:
    """The node's Patroni config: the same keys the fluxora.postgres state writes (its REST
    API's changes need basic auth, as the state configures it)."""
    address = f"127.0.0.1:{node.pg_port}"
    return {
        "scope": scope,
        "name": node.name,
        "restapi": {
            "listen": f"127.0.0.1:{node.rest_port}",
            "connect_address": f"127.0.0.1:{node.rest_port}",
            "authentication": {"username": REST_USER, "password": rest_password},
        },
        # use_proxies: no member discovery, or Patroni would go round the node's proxy
        "etcd3": {"hosts": [f"127.0.0.1:{node.dcs.port}"], "use_proxies": True},
        "bootstrap": {
            "dcs": {
                **timings,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": synchronous,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_log_hints": "on",
                        "wal_keep_size": "256MB",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "hot_standby": "on",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"auth-local": "trust"}, {"auth-host": "trust"}],
        },
        "postgresql": {
            "listen": address,
            "connect_address": address,
            "data_dir": str(node.data_dir),
            "bin_dir": BIN_DIR,
            "pgpass": str(node.base / "pgpass"),
            # the pinned probes' refused writes would bury everything else in the log
            "parameters": {"unix_socket_directories": str(node.base), "log_min_messages": "log"},
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "postgres"},
                "rewind": {"username": "postgres"},
            },
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 trust",
                "host replication all 127.0.0.1/32 trust",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


@dataclass
class PatroniCluster:
    scope: str
    base: Path
    etcd: ServerProcess
    nodes: dict[str, PatroniNode]
    timings: dict[str, int]
    synchronous: bool
    _env: dict[str, str] = field(default_factory=dict)
    rest_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def rest_password_file(self) -> Path:
        """The REST API's password for the orchestrator (`patroni.password_file`)."""
        return self.base / "patroni-password"

    # --- lifecycle -----------------------------------------------------------------------

    def start_node(self, name: str) -> None:
        """`fluxora-patroni start` (what a drill's start_command runs): detached, as postgres."""
        self._launcher("start", name)

    def stop(self) -> None:
        """Stop every node (Patroni stops its PostgreSQL), etcd, and remove the files."""
        for node in self.nodes.values():
            pids = node.launcher_pids()
            if pids is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pids[0], signal.SIGTERM)
        for node in self.nodes.values():
            self._reap(node)
            node.dcs.cut()
        self.etcd.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def _reap(self, node: PatroniNode) -> None:
        pids = node.launcher_pids()
        launcher = pids[0] if pids else None
        with contextlib.suppress(HarnessError):
            wait_until(lambda: not _alive(launcher), 30, f"{node.name} to stop")
        if _alive(launcher):
            self._launcher("kill", node.name)
        postmaster = node.postmaster_pid()
        if postmaster is not None and _alive(postmaster):
            os.kill(postmaster, signal.SIGKILL)

    def _launcher(self, command: str, name: str) -> None:
        node = self.nodes[name]
        argv = [str(LAUNCHER), command, str(node.config_path)]
        result = subprocess.run(argv, env=self._env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HarnessError(f"fluxora-patroni {command} {name}: {result.stderr.strip()}")

    # --- state ----------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """GET /cluster from the first node that answers."""
        for node in self.nodes.values():
            with contextlib.suppress(HarnessError):
                return list(rest_get(node.rest_url, "/cluster").get("members", []))
        return []

    def leader(self) -> str | None:
        found = [m["name"] for m in self.members() if m.get("role") == "leader"]
        return found[0] if found else None

    def replicas(self) -> list[str]:
        return sorted(n for n in self.nodes if n != self.leader())

    def writers(self) -> list[str]:
        return [name for name, node in sorted(self.nodes.items()) if node.is_writer()]

    def heal(self, timeout: float = 120) -> str:
        """Back to one leader and every other node its streaming sync standby, whatever a
        test left (a node a drill crashed is started again); the leader."""
        for name, node in self.nodes.items():
            if node.status() is None:
                self.start_node(name)
        leader = self.wait_leader(timeout)
        for name in self.replicas():
            self.wait_streaming(name, timeout)
        return leader

    def wait_writers(self, expected: list[str], timeout: float) -> None:
        self._wait(lambda: self.writers() == expected, timeout, f"writers to be {expected}")

    def wait_leader(self, timeout: float, other_than: str | None = None) -> str:
        def elected() -> bool:
            leader = self.leader()
            return leader is not None and leader != other_than and self.nodes[leader].is_writer()

        self._wait(elected, timeout, "a leader accepting writes")
        leader = self.leader()
        assert leader is not None
        return leader

    def wait_streaming(self, name: str, timeout: float) -> None:
        """`name` is a replica streaming from the current leader, on the leader's timeline,
        as Patroni's REST API reports it: the rejoin is complete."""

        def streaming() -> bool:
            status = self.nodes[name].status()
            leader = self.leader()
            if status is None or leader is None or leader == name:
                return False
            timeline = (self.nodes[leader].status() or {}).get("timeline")
            replication = status.get("replication_state") or _streaming_from_leader(
                self.nodes[leader], name
            )
            return (
                status.get("role") == "replica"
                and status.get("state") == "running"
                and status.get("timeline") == timeline
                and replication == "streaming"
                and (not self.synchronous or self.member_role(name) == "sync_standby")
            )

        # In synchronous mode only the standby named in the DCS /sync key may be promoted: a
        # replica that streams but is not named there yet cannot take over.
        self._wait(streaming, timeout, f"{name} streaming from the leader")

    def member_role(self, name: str) -> str | None:
        return next((m.get("role") for m in self.members() if m.get("name") == name), None)

    def _wait(self, condition: Any, timeout: float, what: str) -> None:
        try:
            wait_until(condition, timeout, what)
        except HarnessError as exc:
            logs = "\n".join(
                f"--- {n.name} ---\n{log_tail(n.log_path, 25)}" for n in self.nodes.values()
            )
            raise HarnessError(f"{exc}\nmembers: {self.members()}\n{logs}") from exc

    # --- faults ---------------------------------------------------------------------------

    def kill_node(self, name: str) -> None:
        """The whole node at once (launcher, Patroni, PostgreSQL), by the launcher's own
        `kill` (what a drill's fault_command runs)."""
        self._launcher("kill", name)

    def kill_patroni(self, name: str) -> int:
        """SIGKILL Patroni alone; returns its pid."""
        pids = self.nodes[name].launcher_pids()
        if pids is None:
            raise HarnessError(f"{name}: no launcher pid file")
        os.kill(pids[1], signal.SIGKILL)
        return pids[1]

    def kill_postmaster(self, name: str) -> int:
        pid = self.nodes[name].postmaster_pid()
        if pid is None:
            raise HarnessError(f"{name}: no postmaster.pid")
        os.kill(pid, signal.SIGKILL)
        return pid

    def multi_host_dsn(self, dbname: str = "postgres") -> str:
        """libpq multi-host: whichever node accepts writes now."""
        hosts = ",".join("127.0.0.1" for _ in self.nodes)
        ports = ",".join(str(n.pg_port) for n in self.nodes.values())
        return (
            f"host={hosts} port={ports} dbname={dbname} user=postgres "
            "target_session_attrs=read-write connect_timeout=2"
        )


def _streaming_from_leader(leader: PatroniNode, name: str) -> str | None:
    """Patroni 3.0.2's /patroni has no replication_state: ask the leader's
    pg_stat_replication for the replica's walsender state."""
    try:
        with psycopg.connect(leader.dsn() + " connect_timeout=1", autocommit=True) as conn:
            row = conn.execute(
                "SELECT state FROM pg_stat_replication WHERE application_name = %s", [name]
            ).fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def start_cluster(
    run_id: str,
    names: tuple[str, ...] = ("pg-a", "pg-b"),
    *,
    timings: dict[str, int] | None = None,
    synchronous: bool = True,
    timeout: float = 60,
) -> PatroniCluster:
    """etcd and the nodes; returns once the first is leader and every other streams."""
    scope = f"fxt_{run_id}_{os.getpid()}_patroni_{next(_counter)}"
    base = Path("/var/tmp") / scope
    base.mkdir(mode=0o755)
    etcd = start_etcd(base)
    env = {
        **os.environ,
        "FLUXORA_TEST_RUN": os.environ.get("FLUXORA_TEST_RUN", run_id),
        "HOME": str(base),
    }
    nodes = {}
    for name in names:
        node_dir = base / name
        node_dir.mkdir(mode=0o700)
        shutil.chown(node_dir, "postgres", "postgres")
        nodes[name] = PatroniNode(
            name, scope, node_dir, free_port(), free_port(), Partition(_port(etcd))
        )
    cluster = PatroniCluster(scope, base, etcd, nodes, timings or shipped_timings(), synchronous,
                             env)  # fmt: skip
    cluster.rest_password_file.write_text(cluster.rest_password, encoding="utf-8")
    cluster.rest_password_file.chmod(0o640)
    try:
        for node in nodes.values():
            document = node_config(scope, node, cluster.timings, synchronous, cluster.rest_password)
            node.config_path.write_text(yaml.safe_dump(document), encoding="utf-8")
        first, *rest = names
        cluster.start_node(first)
        cluster.wait_leader(timeout)
        for name in rest:
            cluster.start_node(name)
        for name in rest:
            cluster.wait_streaming(name, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _port(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def sweep_orphans() -> list[str]:
    """Remove Patroni test directories whose creating process is gone (their servers died
    with the session that started them only if it tore down; kill what is left)."""
    removed = []
    for path in Path("/var/tmp").glob("fxt_*_patroni_*"):
        pid = path.name.split("_")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def wait_seconds(condition: Any, timeout: float) -> float:
    """Seconds until `condition()` holds (polled every 20 ms); raises at the deadline."""
    start = time.monotonic()
    wait_until(condition, timeout, "condition")
    return time.monotonic() - start


# --- a fault under a write load ------------------------------------------------------------------


def client_probe(cluster: PatroniCluster, probe_id: str, interval: float = 0.05) -> WriteProbe:
    """An application: libpq multi-host with target_session_attrs=read-write, reconnecting
    after every failed write (its open connection stays where it is until it breaks)."""
    dsn = cluster.multi_host_dsn()
    return WriteProbe(probe_id, lambda: psycopg.connect(dsn, autocommit=True), interval=interval)


def node_probe(node: PatroniNode, probe_id: str, interval: float = 0.05) -> WriteProbe:
    """A client pinned to one node (an old connection string): whatever that node
    acknowledges is a write the cluster owes us."""
    dsn = node.dsn() + " connect_timeout=1"
    return WriteProbe(probe_id, lambda: psycopg.connect(dsn, autocommit=True), interval=interval)


@dataclass(frozen=True)
class FaultOutcome:
    old_leader: str
    new_leader: str
    client: Measurement
    client_gap: float  # the longest time between two acknowledged client writes
    lost: dict[str, list[int]]  # probe id -> acknowledged seqs missing on the final leader
    overlap: list[str]  # acknowledgements by one node after another had begun acknowledging
    rejoin_seconds: float | None


def acknowledged_overlap(writes: list[ProbeWrite]) -> list[str]:
    """Two writers acknowledging: after node B acknowledged a write, node A (the one before)
    acknowledged another that started later. Sorted by start time, the serving node may
    change only forward."""
    acked = sorted((w for w in writes if w.ok and w.server), key=lambda w: w.started)
    seen: list[str] = []
    problems = []
    for write in acked:
        assert write.server is not None
        if seen and write.server != seen[-1]:
            if write.server in seen:
                problems.append(f"{write.server} acknowledged seq {write.seq} after {seen[-1]}")
            seen.append(write.server)
        elif not seen:
            seen.append(write.server)
    return problems


def run_fault(
    cluster: PatroniCluster,
    inject: Callable[[str], None],
    *,
    recover: Callable[[str], None] | None = None,
    expect_new_leader: bool = True,
    timeout: float = 90,
) -> FaultOutcome:
    """Probes write (client: multi-host; one per node: pinned); `inject(leader)` at a known
    moment; wait until the client writes again on a leader, `recover(old)` (restart what the
    fault stopped), wait until every node streams from the leader; then count what the final
    leader lacks of every probe's acknowledged rows."""
    old = cluster.wait_leader(timeout)
    tag = f"f{next(_counter)}"
    client = client_probe(cluster, f"{tag}-client").start()
    pinned = {n: node_probe(node, f"{tag}-{n}").start() for n, node in cluster.nodes.items()}
    probes = [client, *pinned.values()]
    try:
        if not client.wait_for_writes(10, 30):
            raise HarnessError(
                f"client probe did not write before the fault: {client.writes()[-3:]}"
            )
        inject(old)
        new = cluster.wait_leader(timeout, other_than=old if expect_new_leader else None)
        failed_seen = len(client.writes())
        wait_until(lambda: sum(w.ok for w in client.writes()[failed_seen:]) >= 10, timeout,
                   "the client writing again")  # fmt: skip
        if recover is not None:
            recover(old)
        started = time.monotonic()
        for name in cluster.nodes:
            if name != new:
                cluster.wait_streaming(name, timeout)
        rejoin = time.monotonic() - started
    finally:
        writes = {p.probe_id: p.stop() for p in probes}
    leader = cluster.wait_leader(timeout)
    with psycopg.connect(cluster.nodes[leader].dsn(), autocommit=True) as conn:
        present = {pid: present_rows(conn, pid) for pid in writes}
    lost = {
        pid: [w.seq for w in ws if w.ok and w.seq not in present[pid]] for pid, ws in writes.items()
    }
    every = [w for ws in writes.values() for w in ws]
    return FaultOutcome(
        old_leader=old,
        new_leader=new,
        client=measure(writes[client.probe_id], present[client.probe_id], 0),
        client_gap=longest_gap(writes[client.probe_id]),
        lost={pid: seqs for pid, seqs in lost.items() if seqs},
        overlap=acknowledged_overlap(every),
        rejoin_seconds=rejoin if recover is not None or expect_new_leader else None,
    )


def cluster_entry(cluster: PatroniCluster, service_file: Path) -> dict[str, Any]:
    """The cluster as the orchestrator's `postgres_clusters` entry: nodes with their REST
    API, the launcher's kill as the drill fault, its start to bring a node back, and a
    service-file endpoint holding the multi-host conninfo."""
    nodes = {
        name: {
            "host": "127.0.0.1",
            "port": node.pg_port,
            "patroni_url": node.rest_url,
            "fault_command": [str(LAUNCHER), "kill", str(node.config_path)],
            "start_command": [str(LAUNCHER), "start", str(node.config_path)],
            "fence_command": fence_argv(node),
            "connect_timeout_seconds": 2,
        }
        for name, node in cluster.nodes.items()
    }
    return {
        "dbname": "postgres",
        "home": next(iter(cluster.nodes)),
        "nodes": nodes,
        "endpoint": {"kind": "service_file", "path": str(service_file), "service": "fluxora-main"},
        "patroni": {
            "synchronous": cluster.synchronous,
            "username": REST_USER,
            "password_file": str(cluster.rest_password_file),
        },
    }


def fence_argv(node: PatroniNode) -> list[str]:
    """Stop a node's postmaster at once (the orchestrator fences an orphan with it)."""
    stop = [f"{BIN_DIR}/pg_ctl", "stop", "-D", str(node.data_dir), "-m", "immediate"]
    return ["runuser", "-u", "postgres", "--", *stop]


def longest_gap(writes: list[ProbeWrite]) -> float:
    """The longest time between two acknowledged writes in a row (the write unavailability
    a client saw)."""
    acked = sorted((w for w in writes if w.ok), key=lambda w: w.seq)
    return max((b.ended - a.ended for a, b in itertools.pairwise(acked)), default=0.0)
