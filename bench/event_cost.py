"""bench/event_cost: instructions per event through `/events`, counted by callgrind.

Wall-clock numbers move with whatever else loads the machine; instruction counts do not. This
starts a salt-master and `fluxora-orch run` (the bench/events setup: SQLite store, a rule
running the `noop` runbook) under `valgrind --tool=callgrind` with instrumentation off,
warms the daemon up with a few events, then counts instructions (Ir) while N events go
through `POST /events` (64 at a time) until every job is done, and prints Ir per event: for
the intake process, its job worker (traced as a child) and both.

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
from tests.harness.processes import ServerProcess, children, wait_until

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


def measure(workdir: Path, config: Path, events: int) -> tuple[int, int]:
    """Instructions of the intake and of its job worker while `events` events went through."""
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
              f"--callgrind-out-file={workdir}/callgrind.out.%p", sys.executable]  # fmt: skip
    daemon, db = start_daemon(workdir, config, prefix=prefix, timeout=300)
    try:
        send(daemon, db, WARM_UP)
        pids = [daemon.popen.pid, *children(daemon.popen.pid)]  # intake, job worker
        for pid in pids:
            callgrind(pid, "--instr=on")
        send(daemon, db, events)
        for pid in pids:
            callgrind(pid, "--dump=measured")
            callgrind(pid, "--instr=off")
    finally:
        terminate(daemon, timeout=300)
    intake, worker = (summary_ir(workdir / f"callgrind.out.{pid}.1") for pid in pids)
    return intake, worker  # the first dump of each: the measured events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fxc-"))
    master, config, _ = start_master(workdir / "master")
    try:
        intake, worker = measure(workdir, config, args.events)
    finally:
        master.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    n = args.events
    print(f"bench/event_cost: {n:,} events, {intake + worker:,} instructions, "
          f"{(intake + worker) / n:,.0f} per event (intake {intake / n:,.0f}, "
          f"job worker {worker / n:,.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
