"""Benchmark: PostgreSQL HA on real Patroni (Debian 3.0.2) + etcd, two nodes, synchronous
mode, the shipped launcher, under a client's write probe (libpq multi-host,
target_session_attrs=read-write, one write every 50 ms) plus one client pinned to each node.

- node loss: the leader's whole node killed (SIGKILL of launcher, Patroni and PostgreSQL at
  once) -> first successful client write ("RTO", detection included) and acknowledged rows
  lost; the shipped timings against Patroni's defaults (ttl 30, loop_wait 10,
  retry_timeout 10), each a real cluster in the same run, `--repeats` times each;
- Patroni killed alone on the leader (no watchdog): rows lost, two writers acknowledging;
- planned switchover through Patroni's REST API by the orchestrator's client: the longest
  gap between two acknowledged writes, rows lost.

    .venv/bin/python -m bench.patroni [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.families.postgres.patroni import PatroniApi
from orchestrator.families.postgres.topology import ClusterConfig
from tests.harness import patroni


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"median {statistics.median(values):6.2f} s  "
        f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


def node_loss(run_id: str, timings: dict[str, int], repeats: int) -> dict[str, Any]:
    cluster = patroni.start_cluster(run_id, timings=timings)
    try:
        outcomes = [
            patroni.run_fault(cluster, cluster.kill_node, recover=cluster.start_node)
            for _ in range(repeats)
        ]
    finally:
        cluster.stop()
    return _collect(outcomes)


def patroni_alone(run_id: str, repeats: int) -> dict[str, Any]:
    cluster = patroni.start_cluster(run_id)
    try:
        outcomes = [
            patroni.run_fault(cluster, _kill_patroni(cluster), recover=cluster.start_node)
            for _ in range(repeats)
        ]
    finally:
        cluster.stop()
    return _collect(outcomes)


def _kill_patroni(cluster: patroni.PatroniCluster) -> Callable[[str], None]:
    def kill(leader: str) -> None:
        cluster.kill_patroni(leader)

    return kill


def switchover(run_id: str, repeats: int) -> dict[str, Any]:
    cluster = patroni.start_cluster(run_id)
    entry = patroni.cluster_entry(cluster, Path(tempfile.mkdtemp()) / "pg_service.conf")
    api = PatroniApi(ClusterConfig.model_validate(entry))
    gaps: list[float] = []

    def switch(leader: str) -> None:
        candidate = next(n for n in cluster.nodes if n != leader)
        api.switchover(leader, candidate)

    try:
        outcomes = []
        for _ in range(repeats):
            outcome = patroni.run_fault(cluster, switch, recover=_no_restart)
            outcomes.append(outcome)
            gaps.append(outcome.client_gap)
    finally:
        cluster.stop()
    return {**_collect(outcomes), "gap": gaps}


def _no_restart(_: str) -> None:
    return None


def _collect(outcomes: list[patroni.FaultOutcome]) -> dict[str, Any]:
    return {
        "rto": [o.client.rto_seconds for o in outcomes],
        "lost": sum(len(v) for o in outcomes for v in o.lost.values()),
        "overlap": sum(len(o.overlap) for o in outcomes),
        "rejoin": [o.rejoin_seconds for o in outcomes if o.rejoin_seconds is not None],
    }


def run(args: argparse.Namespace) -> int:
    run_id = os.environ.setdefault("FLUXORA_TEST_RUN", "bench" + secrets.token_hex(3))
    tuned = patroni.shipped_timings()
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("node loss, shipped timings", lambda: node_loss(run_id, tuned, args.repeats)),
        (
            "node loss, Patroni defaults",
            lambda: node_loss(run_id, patroni.PATRONI_DEFAULT_TIMINGS, args.repeats),
        ),
        ("Patroni killed alone", lambda: patroni_alone(run_id, args.repeats)),
        ("switchover (REST)", lambda: switchover(run_id, args.repeats)),
    ]
    results = {}
    for name, step in steps:
        print(f"... {name}", file=sys.stderr, flush=True)
        results[name] = step()
    report(results, tuned)
    return 0


def report(results: dict[str, dict[str, Any]], tuned: dict[str, int]) -> None:
    timing = ", ".join(f"{k} {v}" for k, v in tuned.items())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nPatroni HA (shipped timings: {timing}; load average after: {load})\n")
    print("| case | fault -> first write | rejoin as replica | rows lost | two writers |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        first = summary(r["gap"]) + " (longest write gap)" if "gap" in r else summary(r["rto"])
        print(f"| {name} | {first} | {summary(r['rejoin'])} | {r['lost']} | {r['overlap']} |")
    ours = statistics.median(results["node loss, shipped timings"]["rto"])
    base = statistics.median(results["node loss, Patroni defaults"]["rto"])
    print(f"\nnode loss: Patroni defaults / shipped = {base / ours:.2f}x (median {base:.2f} s "
          f"vs {ours:.2f} s; target <= 10 s)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.patroni", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
