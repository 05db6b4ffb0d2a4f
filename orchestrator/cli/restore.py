"""`fluxora-orch restore --to TIME`: restore the environment's cluster to a moment, into a new
node (point-in-time recovery with barman-cloud)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from orchestrator.cli.common import config_from_args
from orchestrator.cli.inprocess import add_command, finish
from orchestrator.cli.requests import action_results, add_local_argument, run_request
from orchestrator.core.results import Result


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "restore", parent, _restore,
        help="restore the cluster to a moment into a new node (daemon job, or --local)",
        description="Restore the environment's cluster (backup.pitr.<env>) into a new node: "
        "the newest base backup that ended before TIME, then the archived WAL replayed up to "
        "TIME, then promotion. Without --to, up to the newest archived WAL. A TIME outside "
        "the retained window is refused, naming the window. Runs as a job of the daemon (the "
        "pitr-restore runbook) when one answers, else (or with --local) in this process; "
        "--dry-run shows the window and the node it would make.",
    )  # fmt: skip
    parser.add_argument("--to", metavar="TIME", type=_moment,
                        help="ISO 8601 with offset, e.g. 2026-12-07T10:41:00+00:00")  # fmt: skip
    parser.add_argument("--from-dr", action="store_true", help="read the DR region's archive")
    parser.add_argument("--node", help="the new node's name (default restore-<time>)")
    add_local_argument(parser)


def _moment(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give {value!r} with its offset (e.g. +00:00)")
    return moment.isoformat()


def _restore(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    params = {"to": args.to, "from_dr": args.from_dr, "node": args.node}
    request = {"env": args.env or config.env, "params": params, "dry_run": args.dry_run}
    job = run_request(config, "pitr-restore", request, local=args.local, show=not args.json)
    return finish(args, action_results(job, "postgres.pitr_restore"), _summary)


def _summary(result: Result) -> str:
    data = result.data
    if "plan" in data:
        plan = data["plan"]
        return f"would restore to {plan['to']} into {plan['node']} (window {plan['window']})"
    return (
        f"restored {data['env']} to {data['to']} into node {data['node']} "
        f"(port {data['port']}, socket {data['socket_dir']}) from base backup "
        f"{data['backup_id']}: restore {data['restore_seconds']:.1f}s + replay "
        f"{data['replay_seconds']:.1f}s; last replayed commit {data['recovered_to']}"
    )
