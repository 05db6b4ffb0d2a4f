"""Benchmark: unplanned failover RTO and planned switchover write unavailability on a local
primary/replica pair, through the shipped runbooks, seen by a client's write probe (libpq
`service=` every 50 ms) and by the runbook's own probe.

Each run fails over (unplanned: the runbook crashes the primary itself, so the probe sees the
whole outage; planned: a clean switchover) and fails back. The baseline, in the same run, is
the same unplanned runbook with failure detection timed like Patroni's defaults (the primary
must stay unreachable across loop_wait = 10 s checks for a ttl of 30 s before anything is
promoted); Patroni's documented ~45 s is printed beside it.

    .venv/bin/python -m bench.failover [--runs 5] [--baseline-runs 1]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.app.families import builtin_registry
from orchestrator.core.journal import RunStatus
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog
from tests.harness import postgres
from tests.harness.failover import config_for, resources, run_runbook, service_probe, step_output

PATRONI_DEFAULT_SECONDS = 45.0


def client_outage(writes: list[Any]) -> float:
    """First failed write to the first successful write after it (0 when none failed)."""
    first = next((w for w in writes if not w.ok), None)
    if first is None:
        return 0.0
    resumed = next(w for w in writes if w.ok and w.seq > first.seq)
    return float(resumed.ended - first.started)


def patroni_timed(spec: RunbookSpec) -> RunbookSpec:
    """The failover runbook with Patroni-default detection: 4 checks 10 s apart (30 s)."""
    steps = [
        s.model_copy(update={"params": {**s.params, "confirm_checks": 4, "confirm_interval": 10}})
        if s.name == "primary_down"
        else s
        for s in spec.steps
    ]
    return spec.model_copy(update={"steps": steps})


def one_run(config: Any, mode: str, spec: RunbookSpec | None = None) -> dict[str, float]:
    given = resources(config)
    probe = service_probe(f"bench-{secrets.token_hex(3)}").start()
    try:
        if not probe.wait_for_writes(5, 30):
            raise SystemExit("the client probe cannot write through the endpoint")
        params = {"mode": mode, "inject_fault": mode == "unplanned"}
        failover = run_runbook("postgres-failover", "dev", params, given, spec=spec)
        if failover.status is not RunStatus.COMPLETED:
            raise SystemExit(f"failover {mode} {failover.status}: {failover.error}")
        probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
    finally:
        writes = probe.stop()
    failback = run_runbook("postgres-failback", "dev", {}, given)
    if failback.status is not RunStatus.COMPLETED:
        raise SystemExit(f"failback {failback.status}: {failback.error}")
    measured = step_output(failover, "measure")["measurement"]
    return {
        "client_outage": client_outage(writes),
        "runbook_rto": float(measured["rto_seconds"]),
        "rpo_seconds": float(measured["rpo_seconds"]),
        "rpo_bytes": float(measured["rpo_bytes"]),
        "failback_rto": float(step_output(failback, "measure")["measurement"]["rto_seconds"]),
    }


@contextmanager
def local_pair() -> Iterator[postgres.PgPair]:
    run_id = os.environ.setdefault("FLUXORA_TEST_RUN", "bench" + secrets.token_hex(3))
    pair = postgres.create_pair(run_id)
    try:
        yield pair
    finally:
        pair.drop()


def summary(label: str, runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"| {label} | {len(values)} | {statistics.median(values):.2f} s | {max(values):.2f} s |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=1)
    args = parser.parse_args()
    spec = load_catalog(default_runbooks_dir(), builtin_registry()).get("postgres-failover")
    results: dict[str, list[dict[str, float]]] = {"unplanned": [], "planned": [], "baseline": []}
    with local_pair() as pair, tempfile.TemporaryDirectory() as tmp:
        config = config_for(pair, Path(tmp))
        os.environ["PGSERVICEFILE"] = str(Path(tmp) / "pg_service.conf")
        for _ in range(args.runs):
            for mode in ("unplanned", "planned"):
                results[mode].append(one_run(config, mode))
                print(mode, results[mode][-1], file=sys.stderr, flush=True)
        for _ in range(args.baseline_runs):
            results["baseline"].append(one_run(config, "unplanned", patroni_timed(spec)))
            print("baseline", results["baseline"][-1], file=sys.stderr, flush=True)
    print_table(results)


def print_table(results: dict[str, list[dict[str, float]]]) -> None:
    unplanned, planned, baseline = results["unplanned"], results["planned"], results["baseline"]
    print("| measure | runs | median | max |")
    print("| --- | ---: | ---: | ---: |")
    print(summary("unplanned failover RTO (client probe)", unplanned, "client_outage"))
    print(summary("unplanned failover RTO (runbook probe)", unplanned, "runbook_rto"))
    print(summary("planned switchover unavailability (client probe)", planned, "client_outage"))
    print(summary("planned switchover unavailability (runbook probe)", planned, "runbook_rto"))
    print(summary("failback switchover unavailability (runbook probe)", planned, "failback_rto"))
    print(summary("baseline: Patroni-timed detection RTO (client probe)", baseline,
                  "client_outage"))  # fmt: skip
    lost_planned = max(r["rpo_seconds"] + r["rpo_bytes"] for r in planned)
    lost_unplanned = max(r["rpo_bytes"] for r in unplanned)
    print(f"\nplanned switchover: max RPO {lost_planned:g} (seconds + WAL bytes; 0 = nothing lost)")
    print(f"unplanned failover: max lost WAL {lost_unplanned:g} bytes")
    ours = statistics.median(r["client_outage"] for r in unplanned)
    naive = statistics.median(r["client_outage"] for r in baseline)
    print(f"ratio: Patroni-timed baseline {naive:.1f} s / ours {ours:.2f} s = x{naive / ours:.1f}; "
          f"Patroni's documented default {PATRONI_DEFAULT_SECONDS:.0f} s / ours = "
          f"x{PATRONI_DEFAULT_SECONDS / ours:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
