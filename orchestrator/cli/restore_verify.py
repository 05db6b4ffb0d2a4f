"""`fluxora-orch restore-verify`: prove a backup restores and matches its manifest."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.cli.common import config_from_args
from orchestrator.cli.inprocess import add_command, finish, human_bytes
from orchestrator.cli.requests import action_results, add_local_argument, run_request
from orchestrator.core.results import Result

PITR_VERIFY = "postgres.pitr_verify"


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "restore-verify", parent, _restore_verify,
        help="restore a backup into a scratch database and check it (daemon job, or --local)",
        description="Restore a backup (default: the newest) into a scratch database, check "
        "the stored objects' checksums and every table's row count and content checksum "
        "against the manifest, then drop the scratch database. Where the environment has "
        "point-in-time recovery, also restore its cluster to a moment just taken into a new "
        "node and check the rows before and after it. Reports RTO and RPO. Runs as "
        "a job of the daemon (the restore-verify runbook) when one answers, else (or with "
        "--local) as a job run in this process on the same store; --dry-run plans it.",
    )  # fmt: skip
    parser.add_argument("--backup", metavar="ID", help="backup id (default: the newest)")
    parser.add_argument("--database", help="newest backup of this database")
    parser.add_argument("--kind", choices=["logical", "physical"])
    add_local_argument(parser)


def _restore_verify(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    params = {"backup_id": args.backup, "database": args.database, "kind": args.kind}
    request = {"env": args.env or config.env, "params": params, "dry_run": args.dry_run}
    job = run_request(config, "restore-verify", request, local=args.local, show=not args.json)
    results = action_results(job, "postgres.verify")
    return finish(args, results + _point_in_time(job), _summary)


def _point_in_time(job: dict[str, Any]) -> list[Result]:
    """The point-in-time proof's Result, where the environment has one configured."""
    steps = [s for s in (job.get("journal") or {}).get("steps", []) if s["action"] == PITR_VERIFY]
    if not steps:
        return []
    return [r for r in action_results(job, PITR_VERIFY) if not r.data.get("skipped")]


def _summary(result: Result) -> str:
    data = result.data
    if "recovered_to" in data:
        return (
            f"point in time {data['target']} of {data['env']} restored from base backup "
            f"{data['backup_id']}: the row committed before it present, the one after it "
            f"absent, {data['tables_checked']} tables match the source at that moment"
        )
    if "plan" in data:
        plan = data["plan"]
        if "verify" in plan:
            return f"would prove a point-in-time restore of {plan['verify']}"
        return f"would restore {plan['backup_id']} into {plan['target']} with {plan['jobs']} jobs"
    return (
        f"backup {data['backup_id']} of {data['env']}/{data['database']} verified: "
        f"{data['tables_checked']} tables match the manifest; restored "
        f"{human_bytes(data['restored_bytes'])} into {data['target']}; "
        f"RTO {data['rto_seconds']:.1f}s (+{data['verify_seconds']:.1f}s checks), "
        f"RPO {data['rpo_seconds']:.0f}s"
    )
