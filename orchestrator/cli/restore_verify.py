"""`fluxora-orch restore-verify`: prove a backup restores and matches its manifest."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.cli.inprocess import add_command, context, finish, human_bytes, run_action
from orchestrator.core.results import Result


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "restore-verify", parent, _restore_verify,
        help="restore a backup into a scratch database and check it (in this process)",
        description="Restore a backup (default: the newest) into a scratch database, check "
        "the stored objects' checksums and every table's row count and content checksum "
        "against the manifest, then drop the scratch database. Reports RTO and RPO.",
    )  # fmt: skip
    parser.add_argument("--backup", metavar="ID", help="backup id (default: the newest)")
    parser.add_argument("--database", help="newest backup of this database")
    parser.add_argument("--kind", choices=["logical", "physical"])


def _restore_verify(args: argparse.Namespace) -> int:
    ctx = context(args, dry_run=args.dry_run)
    params = {"backup_id": args.backup, "database": args.database, "kind": args.kind}
    return finish(args, [run_action(args, ctx, "postgres.verify", params)], _summary)


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
