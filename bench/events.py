"""bench/events: events through the orchestrator vs Salt's own reactor, on one salt-master.

Runs, in one process and one run:
1. bursts of N events (default 1,000 and 10,000) through POST /events and through the Salt bus
   into a rule whose runbook runs the no-op action (the real `fluxora-orch run`, SQLite store);
2. the same bursts through Salt's reactor on the same master: a reactor SLS mapping the tag to
   a trivial runner that fires a completion event and closes its connection;
3. an offered load of 1,000 events/s through /events for a few seconds (event -> decision p99).
Prints accepted/decided/done events per second, event -> decision and event -> done latency
(p50/p99), lost events, and our numbers as ratios against the reactor's.

    .venv/bin/python -m bench.events [--sizes 1000 10000] [--rate 1000 --seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import salt.utils.event
import salt.version
import yaml

from orchestrator.engine.sources.signing import signed_headers
from tests.harness.fluxora import FIXTURE_RUNBOOKS, SECRET, secret_env
from tests.harness.orchestrator import start_orchestrator, terminate
from tests.harness.processes import (
    ServerProcess,
    children,
    free_port,
    start_server,
    wait_until,
)
from tests.harness.salt_bus import BusReader

HERE = Path(__file__).resolve().parent / "events_salt"
CONCURRENCY = 64
SETTLE_SECONDS = 120.0  # give up on stragglers after this long without progress


@dataclass
class Outcome:
    path: str
    sent: int
    accepted_per_s: float | None
    decided_per_s: float | None
    done_per_s: float
    decision_p50: float | None
    decision_p99: float | None
    done_p50: float
    done_p99: float
    lost: int
    cpu_ms: float | None = None  # the daemon's CPU time (user + system) per event


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the salt-master with a reactor -----------------------------------------------------------


def start_master(workdir: Path) -> tuple[ServerProcess, Path, dict[str, Any]]:
    confdir = workdir / "conf"
    confdir.mkdir(parents=True)
    config = {
        "root_dir": str(workdir),
        "pki_dir": str(workdir / "pki"),
        "cachedir": str(workdir / "cache"),
        "sock_dir": str(workdir / "sock"),
        "log_file": str(workdir / "master.log"),
        "log_level_logfile": "warning",
        "pidfile": str(workdir / "master.pid"),
        "interface": "127.0.0.1",
        "publish_port": free_port(),
        "ret_port": free_port(),
        "user": "root",
        "file_roots": {"base": [str(HERE)]},
        "runner_dirs": [str(HERE / "_runners")],
        "reactor": [{"bench/reactor/*": ["salt://react.sls"]}],
        "fileserver_backend": ["roots"],
    }
    config_file = confdir / "master"
    config_file.write_text(yaml.safe_dump(config))
    binary = str(Path(sys.executable).parent / "salt-master")
    sock = workdir / "sock" / "master_event_pub.ipc"
    argv = [binary, "-c", str(confdir), "-l", "warning"]
    server = start_server("salt-master", argv, workdir / "master.out", "", sock.exists, timeout=60)
    import salt.config

    return server, config_file, salt.config.master_config(str(config_file))


class BusListener:
    """Receipt times of completion events (`bench/done/<id>`), read as the tests read the bus."""

    def __init__(self, opts: dict[str, Any], prefix: str) -> None:
        self.times: dict[str, float] = {}
        self._prefix = prefix
        self._reader = BusReader(opts)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._reader.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if event["tag"].startswith(self._prefix):
                self.times[event["data"]["event_id"]] = time.time()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._reader.close()


def fire_burst(opts: dict[str, Any], tag_prefix: str, count: int) -> dict[str, float]:
    """Fire `count` events as fast as one connection can; return id -> send time."""
    bus = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    sent: dict[str, float] = {}
    try:
        for _ in range(count):
            event_id = uuid.uuid4().hex
            now = time.time()
            bus.fire_event({"event_id": event_id, "sent_at": now}, f"{tag_prefix}/{event_id[:8]}")
            sent[event_id] = now
    finally:
        bus.destroy()
    return sent


def wait_settled(progress: Any, total: int) -> None:
    """Until `progress()` reaches `total` or stops moving for SETTLE_SECONDS."""
    last, since = -1, time.monotonic()
    while (done := progress()) < total:
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since > SETTLE_SECONDS:
            return
        time.sleep(0.2)


def wait_for_reactor(opts: dict[str, Any]) -> None:
    """The reactor subscribes some seconds after the master is up: fire until it answers."""
    listener = BusListener(opts, "bench/done/")
    try:
        deadline = time.monotonic() + 60
        while not listener.times:
            if time.monotonic() > deadline:
                raise RuntimeError("Salt's reactor did not answer within 60 s")
            fire_burst(opts, "bench/reactor", 1)
            time.sleep(1)  # polling a daemon we cannot ask: fire, then look again
    finally:
        listener.close()


def reactor_run(opts: dict[str, Any], count: int) -> Outcome:
    listener = BusListener(opts, "bench/done/")
    try:
        sent = fire_burst(opts, "bench/reactor", count)
        wait_settled(lambda: len(listener.times), count)
    finally:
        listener.close()
    done = {k: v for k, v in listener.times.items() if k in sent}
    latencies = [done[k] - sent[k] for k in done]
    span = (max(done.values()) - min(sent.values())) if done else float("inf")
    p50, p99 = (pct(latencies, 0.5), pct(latencies, 0.99)) if latencies else (0.0, 0.0)
    return Outcome("salt reactor", count, None, None, len(done) / span, None, None, p50, p99,
                   count - len(done))  # fmt: skip


# --- the orchestrator -------------------------------------------------------------------------


def start_daemon(
    workdir: Path, master_config: Path, prefix: Sequence[str] = (), timeout: float = 30
) -> tuple[ServerProcess, Path]:
    config = {
        "env": "dev",
        "runbooks_dir": str(FIXTURE_RUNBOOKS),
        "salt": {"master_config": str(master_config), "tags": ["bench/ours/*"]},
        "executor": {"max_jobs": 256},
        "rules": [{"name": "bench", "match": "bench/ours/*", "run": "noop"}],
        "schedules": [],
    }
    path = workdir / "orch.yaml"
    path.write_text(yaml.safe_dump(config))
    data = workdir / "data"
    server = start_orchestrator(data, ["--config", str(path)], env=secret_env(),
                                log_path=workdir / "orch.log", prefix=prefix,
                                timeout=timeout)  # fmt: skip
    return server, data / "fluxora.sqlite"


def store_times(db: Path, ids: set[str]) -> dict[str, tuple[float | None, float | None]]:
    """event id -> (decided_at, job finished_at) from the daemon's store."""
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT d.event_id, d.decided_at, j.finished_at FROM decisions d "
            "LEFT JOIN jobs j ON j.id = d.job_id WHERE d.rule = 'bench'"
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows if r[0] in ids}


def count_done(db: Path, ids: set[str]) -> int:
    return sum(1 for _, finished in store_times(db, ids).values() if finished is not None)


def summarize(path: str, sent: dict[str, float], db: Path, accepted: float | None) -> Outcome:
    times = store_times(db, set(sent))
    decided = {k: v[0] for k, v in times.items() if v[0] is not None}
    done = {k: v[1] for k, v in times.items() if v[1] is not None}
    start = min(sent.values())
    decision = [decided[k] - sent[k] for k in decided]
    finish = [done[k] - sent[k] for k in done]
    return Outcome(path, len(sent), accepted,
                   len(decided) / (max(decided.values()) - start) if decided else 0,
                   len(done) / (max(done.values()) - start) if done else 0,
                   pct(decision, 0.5), pct(decision, 0.99), pct(finish, 0.5), pct(finish, 0.99),
                   len(sent) - len(done))  # fmt: skip


async def post_events(
    url: str, count: int, rate: float | None = None
) -> tuple[dict[str, float], float]:
    """POST `count` signed events (as fast as possible, or at `rate`/s); id -> send time and the
    accepted events per second (202s over the time from first send to last 202)."""
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    start = time.time()
    last_ack = start

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal last_ack
        while not queue.empty():
            n = queue.get_nowait()
            if rate is not None:
                await asyncio.sleep(max(0.0, start + n / rate - time.time()))
            event_id = uuid.uuid4().hex
            now = time.time()
            body = json.dumps({"tag": "bench/ours/http", "id": event_id,
                               "data": {"sent_at": now}}).encode()  # fmt: skip
            async with session.post(f"{url}/events", data=body,
                                    headers=signed_headers(SECRET, body)) as response:  # fmt: skip
                if response.status == 202:
                    sent[event_id] = now
                    last_ack = time.time()
                else:
                    print(f"refused: {response.status} {await response.text()}", file=sys.stderr)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return sent, len(sent) / (last_ack - start)


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The same for `pid` and its children: the daemon's intake and its job worker."""
    return own_cpu_seconds(pid) + sum(own_cpu_seconds(child) for child in children(pid))


def cpu_split(pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of this process (the sender), the intake and its job worker."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    worker = sum(own_cpu_seconds(child) for child in children(pid))
    return usage.ru_utime + usage.ru_stime, own_cpu_seconds(pid), worker


def ours_http(daemon: ServerProcess, db: Path, count: int) -> Outcome:
    cpu = cpu_seconds(daemon.popen.pid)
    sent, accepted = asyncio.run(post_events(daemon.url, count))
    wait_settled(lambda: count_done(db, set(sent)), len(sent))
    outcome = summarize("fluxora /events", sent, db, accepted)
    outcome.lost += count - len(sent)  # refused sends count as lost too
    outcome.cpu_ms = (cpu_seconds(daemon.popen.pid) - cpu) * 1000 / count
    return outcome


def ours_salt(opts: dict[str, Any], daemon: ServerProcess, db: Path, count: int) -> Outcome:
    cpu = cpu_seconds(daemon.popen.pid)
    sent = fire_burst(opts, "bench/ours", count)
    wait_settled(lambda: count_done(db, set(sent)), count)
    outcome = summarize("fluxora salt bus", sent, db, None)
    outcome.cpu_ms = (cpu_seconds(daemon.popen.pid) - cpu) * 1000 / count
    return outcome


# --- report ------------------------------------------------------------------------------------


def row(o: Outcome) -> str:
    def f(v: float | None, unit: str = "") -> str:
        return "-" if v is None else f"{v:,.0f}{unit}" if unit == "/s" else f"{v * 1000:,.1f} ms"

    return (f"| {o.path} | {o.sent:,} | {f(o.accepted_per_s, '/s')} | {f(o.decided_per_s, '/s')} "
            f"| {f(o.done_per_s, '/s')} | {f(o.decision_p50)} / {f(o.decision_p99)} "
            f"| {f(o.done_p50)} / {f(o.done_p99)} | {o.lost} "
            f"| {'-' if o.cpu_ms is None else f'{o.cpu_ms:.2f} ms'} |")  # fmt: skip


def machine() -> str:
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}, Python "
            f"{platform.python_version()}, Salt {salt.version.__version__}, "
            f"{pg.stdout.strip()}, {time.strftime('%Y-%m-%d')}")  # fmt: skip


def report(results: list[tuple[Outcome, Outcome, Outcome]], load: Outcome) -> None:
    print(f"\nbench/events on {machine()}\n")
    print("| path | events | accepted/s | decided/s | done/s | event->decision p50 / p99 "
          "| event->done p50 / p99 | lost | daemon CPU/event |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for http, bus, reactor in results:
        for outcome in (http, bus, reactor):
            print(row(outcome))
    print(row(load).replace("fluxora /events", f"fluxora /events at {load.sent:,} offered"))
    print("\nratios against the reactor (same burst):")
    for http, bus, reactor in results:
        for ours in (http, bus):
            throughput = (ours.accepted_per_s or ours.decided_per_s or 0) / reactor.done_per_s
            print(f"  {ours.path} N={ours.sent:,}: accepted(committed)/s x{throughput:.1f}, "
                  f"done/s x{ours.done_per_s / reactor.done_per_s:.1f}, "
                  f"event->done p99 {reactor.done_p99 / ours.done_p99:.1f}x lower")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="offered-load duration")
    parser.add_argument("--salt-only", action="store_true", help="only our Salt-bus path")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fxb-"))  # short: Salt's socket paths are limited
    master, master_config, opts = start_master(workdir / "master")
    daemon: ServerProcess | None = None
    try:
        daemon, db = start_daemon(workdir, master_config)
        wait_for_reactor(opts)
        if args.salt_only:  # a quick check of the Salt-bus path alone (no baseline, no ratios)
            for size in args.sizes:
                print(row(ours_salt(opts, daemon, db, size)), flush=True)
            return 0
        results = []
        for size in args.sizes:
            http = ours_http(daemon, db, size)
            bus = ours_salt(opts, daemon, db, size)
            reactor = reactor_run(opts, size)
            results.append((http, bus, reactor))
            print(row(http), row(bus), row(reactor), sep="\n", flush=True)
        load = offered_load(daemon, db, args.rate, args.seconds)
        report(results, load)
    finally:
        if daemon is not None:
            terminate(daemon, timeout=60)
        master.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def offered_load(daemon: ServerProcess, db: Path, rate: float, seconds: float) -> Outcome:
    count = int(rate * seconds)
    cpu = cpu_seconds(daemon.popen.pid)
    before, start = cpu_split(daemon.popen.pid), time.monotonic()
    sent, accepted = asyncio.run(post_events(daemon.url, count, rate=rate))
    elapsed = time.monotonic() - start
    cores = [(b - a) / elapsed for a, b in zip(before, cpu_split(daemon.popen.pid), strict=True)]
    print("cores busy while offering: sender {:.2f}, intake {:.2f}, job worker {:.2f}"
          .format(*cores))  # fmt: skip
    wait_until(lambda: count_done(db, set(sent)) == len(sent), SETTLE_SECONDS, "offered load")
    outcome = summarize("fluxora /events", sent, db, accepted)
    outcome.cpu_ms = (cpu_seconds(daemon.popen.pid) - cpu) * 1000 / count
    return outcome


if __name__ == "__main__":
    raise SystemExit(main())
