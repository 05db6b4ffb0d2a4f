"""`fluxora-orch restore-verify`: prove a backup restores and matches its manifest."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.cli.common import config_from_args
from orchestrator.cli.inprocess import add_command, context, finish, human_bytes, run_action
from orchestrator.cli.requests import add_local_argument, run_on_daemon, run_requests
from orchestrator.core.results import Result


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "restore-verify", parent, _restore_verify,
        help="restore a backup into a scratch database and check it (daemon job, or --local)",
        description="Restore a backup (default: the newest) into a scratch database, check "
        "the stored objects' checksums and every table's row count and content checksum "
        "against the manifest, then drop the scratch database. Reports RTO and RPO. Runs as "
        "a job of the daemon (the restore-verify runbook) when one answers; --dry-run, "
        "--local or no daemon run it in this process.",
    )  # fmt: skip
    parser.add_argument("--backup", metavar="ID", help="backup id (default: the newest)")
    parser.add_argument("--database", help="newest backup of this database")
    parser.add_argument("--kind", choices=["logical", "physical"])
    add_local_argument(parser)


def _restore_verify(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    params = {"backup_id": args.backup, "database": args.database, "kind": args.kind}

    def local() -> list[Result]:
        with context(args, dry_run=args.dry_run) as ctx:
            return [run_action(args, ctx, "postgres.verify", params)]

    def on_daemon() -> list[Result]:
        request = {
            "env": args.env or config.env,
            "params": params,
            "lock": f"restore-verify-{args.database or 'newest'}",
        }
        return run_on_daemon(
            config, "restore-verify", "postgres.verify", request, show=not args.json
        )

    results = run_requests(config, local, on_daemon, force_local=args.local or args.dry_run)
    return finish(args, results, _summary)


def _summary(result: Result) -> str:
    data = result.data
    if "plan" in data:
        plan = data["plan"]
        return f"would restore {plan['backup_id']} into {plan['target']} with {plan['jobs']} jobs"
    return (
        f"backup {data['backup_id']} of {data['env']}/{data['database']} verified: "
        f"{data['tables_checked']} tables match the manifest; restored "
        f"{human_bytes(data['restored_bytes'])} into {data['target']}; "
        f"RTO {data['rto_seconds']:.1f}s (+{data['verify_seconds']:.1f}s checks), "
        f"RPO {data['rpo_seconds']:.0f}s"
    )
