"""`fluxora-orch backup`: back up one database (or every one of the environment) now."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.cli.common import config_from_args
from orchestrator.cli.inprocess import add_command, context, finish, human_bytes, run_action
from orchestrator.cli.requests import add_local_argument, run_on_daemon, run_requests
from orchestrator.core.results import Result
from orchestrator.families.backup.resources import Databases, UnknownDatabaseError


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "backup", parent, _backup,
        help="back up databases into the object store (as daemon jobs, or --local)",
        description="Back up a configured database (default: all of the environment) into "
        "the object store, then copy it to the DR bucket when one is configured. Runs as a "
        "job of the daemon (the backup runbook) when one answers; --dry-run, --local or no "
        "daemon run it in this process.",
    )  # fmt: skip
    parser.add_argument("--database", help="configured database name (default: all)")
    parser.add_argument("--kind", choices=["logical", "physical"], default="logical")
    add_local_argument(parser)


def _backup(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    env = args.env or config.env
    names = [args.database] if args.database else Databases(config.databases).names(env)
    if not names:
        raise UnknownDatabaseError(env, "(any)", [])
    requests = [{"database": name, "kind": args.kind} for name in names]

    def local() -> list[Result]:
        with context(args, dry_run=args.dry_run) as ctx:
            return [run_action(args, ctx, "postgres.backup", params) for params in requests]

    def on_daemon() -> list[Result]:
        return [
            result
            for params in requests
            for result in run_on_daemon(
                config, "backup", "postgres.backup", _request(env, params), show=not args.json
            )
        ]

    results = run_requests(config, local, on_daemon, force_local=args.local or args.dry_run)
    return finish(args, results, _summary)


def _summary(result: Result) -> str:
    data = result.data
    if "plan" in data:
        plan = data["plan"]
        return (
            f"would back up {plan['source']} ({plan['kind']}) to {plan['store']}: {plan['command']}"
        )
    ratio = data["raw_bytes"] / data["stored_bytes"] if data["stored_bytes"] else 0.0
    rate = data["raw_bytes"] / data["duration_seconds"] if data["duration_seconds"] else 0.0
    return (
        f"backup {data['backup_id']} of {data['env']}/{data['database']} ({data['kind']}): "
        f"{human_bytes(data['stored_bytes'])} stored ({human_bytes(data['raw_bytes'])} raw, "
        f"{ratio:.1f}x), {data['duration_seconds']:.1f}s at {human_bytes(rate)}/s, "
        f"{data['tables']} tables, consistent at {data['consistent_at']} "
        f"(LSN {data['consistent_lsn']})" + (", copied to DR" if data["dr_copied"] else "")
    )


def _request(env: str, params: dict[str, Any]) -> dict[str, Any]:
    """Taking the lock its schedule takes: a scheduled and a requested backup never overlap."""
    return {"env": env, "params": params, "lock": f"backup-{params['database']}-{params['kind']}"}
