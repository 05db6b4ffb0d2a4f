"""bench/event_cost: instructions per event through `/events`, counted by callgrind.

Wall-clock numbers move with whatever else loads the machine; instruction counts do not. This
starts a salt-master and `fluxora-orch run` (the bench/events setup: SQLite store, a rule
running the `noop` runbook) under `valgrind --tool=callgrind` with instrumentation off,
warms the daemon up with a few events, then counts instructions (Ir) while N events go
through `POST /events` (64 at a time) until every job is done, and prints Ir per event.

Under valgrind the daemon is ~50x slower, so its group commits are full (64 events): the count
is the cost per event with full batches, a lower bound for a daemon whose batches are smaller.

    .venv/bin/python -m bench.event_cost [--events 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.events import count_done, post_events, start_daemon, start_master
from tests.harness.orchestrator import terminate
from tests.harness.processes import ServerProcess, wait_until

WARM_UP = 50
SETTLE_SECONDS = 600.0


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def summary_ir(out_file: Path) -> int:
    match = re.search(r"^summary: (\d+)", out_file.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary line in {out_file}")
    return int(match.group(1))


def send(daemon: ServerProcess, db: Path, count: int) -> None:
    sent, _ = asyncio.run(post_events(daemon.url, count))
    if len(sent) != count:
        raise RuntimeError(f"{count - len(sent)} of {count} events refused")
    ids = set(sent)
    wait_until(lambda: count_done(db, ids) == count, SETTLE_SECONDS, f"{count} jobs done")


def measure(workdir: Path, config: Path, events: int) -> int:
    out_file = workdir / "callgrind.out"
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
              f"--callgrind-out-file={out_file}", sys.executable]  # fmt: skip
    daemon, db = start_daemon(workdir, config, prefix=prefix, timeout=300)
    try:
        pid = daemon.popen.pid
        send(daemon, db, WARM_UP)
        callgrind(pid, "--instr=on")
        send(daemon, db, events)
        callgrind(pid, "--dump=measured")
        callgrind(pid, "--instr=off")
    finally:
        terminate(daemon, timeout=300)
    return summary_ir(workdir / "callgrind.out.1")  # the first dump: the measured events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fxc-"))
    master, config, _ = start_master(workdir / "master")
    try:
        ir = measure(workdir, config, args.events)
    finally:
        master.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bench/event_cost: {args.events:,} events, {ir:,} instructions, "
          f"{ir / args.events:,.0f} instructions per event")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
