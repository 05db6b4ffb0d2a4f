"""`fluxora-orch jobs`, `jobs abort ID`, `job ID`, `approve ID`, `reject ID`."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from orchestrator.cli.client import api_path, limit_argument, post_signed, read, with_store
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json, short_time, table
from orchestrator.core.jobs import Approval, JobStatus
from orchestrator.engine.api import queries
from orchestrator.engine.api.views import job_view

GATES = {
    "approve": (
        "approve a job that awaits approval: it runs",
        "Approve a job that awaits approval: it becomes pending and the daemon runs it within "
        "its poll interval. Writes to the store.",
    ),
    "reject": (
        "reject a job that awaits approval: it never runs",
        "Reject a job that awaits approval: it ends `rejected`, never runs, and frees its "
        "lock. Writes to the store.",
    ),
}


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    jobs = commands.add_parser(
        "jobs",
        parents=[parent],
        help="list recent jobs, newest first",
        description="List recent jobs (newest first) from the daemon, or its store.",
    )
    jobs.add_argument(
        "--limit", type=limit_argument, default=20, help="how many (default 20, at most 1000)"
    )
    jobs.add_argument("--status", choices=[s.value for s in JobStatus])
    jobs.add_argument("--runbook", metavar="NAME")
    jobs.set_defaults(func=_jobs)
    verbs = jobs.add_subparsers(title="actions", metavar="ACTION", required=False)
    abort = verbs.add_parser(
        "abort",
        parents=[parent],
        help="stop a running job (rollbacks run)",
        description="Stop a job the daemon is running: the running step is signalled, the "
        'rollbacks run in order and the job ends `aborted` ("aborted by operator"). Signed '
        "with the webhook secret. Fails for an unknown, finished or not yet started job.",
    )
    abort.add_argument("job_id", metavar="JOB_ID")
    abort.add_argument("--by", default=getpass.getuser(), help="who stops it (default: you)")
    abort.set_defaults(func=_abort)
    job = commands.add_parser(
        "job",
        parents=[parent],
        help="one job with its journal",
        description="Show one job: status, parameters, approval, and its journal step by step.",
    )
    job.add_argument("job_id", metavar="JOB_ID")
    job.set_defaults(func=_job)
    for name, (short, description) in GATES.items():
        gate = commands.add_parser(name, parents=[parent], help=short, description=description)
        gate.add_argument("job_id", metavar="JOB_ID")
        gate.add_argument("--by", default=getpass.getuser(), help="who decides (default: you)")
        gate.add_argument("--comment", default="", help="why (kept with the decision)")
        gate.set_defaults(func=_decide, approved=name == "approve")


def _jobs(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    found = read(
        config,
        "jobs",
        lambda s: queries.list_jobs(s, args.limit, args.status, args.runbook),
        limit=args.limit,
        status=args.status,
        runbook=args.runbook,
    )
    if args.json:
        print_json(found)
        return 0
    rows = [
        [
            short_time(j["created_at"]),
            j["id"],
            j["runbook"],
            j["env"],
            j["status"],
            j["rule"] or "-",
        ]
        for j in found
    ]
    print(table(["CREATED", "ID", "RUNBOOK", "ENV", "STATUS", "RULE"], rows) if rows else "no jobs")
    return 0


def _abort(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    path = "/" + api_path("api", "jobs", args.job_id, "abort")
    answer = post_signed(config, path, {"by": args.by})
    if args.json:
        print_json(answer)
    else:
        print(f"job {args.job_id}: aborting (rollbacks run; `fluxora-orch job {args.job_id}`)")
    return 0


def _job(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    path = api_path("jobs", args.job_id)
    found = read(config, path, lambda s: queries.job_detail(s, args.job_id))
    if args.json:
        print_json(found)
        return 0
    print(f"job {found['id']}: runbook {found['runbook']} in {found['env']}: {found['status']}")
    print(
        f"  rule {found['rule'] or '-'}, event {found['event_id'] or '-'}, "
        f"created {short_time(found['created_at'])}"
    )
    if found["approval"]:
        approval = found["approval"]
        verdict = "approved" if approval["approved"] else "rejected"
        print(
            f"  {verdict} by {approval['by']} at {short_time(approval['at'])} {approval['comment']}"
        )
    print_journal(found["journal"])
    return 0


def print_journal(journal: dict[str, Any] | None) -> None:
    """The run's status, error, every step and rollback, and its RTO/RPO against targets."""
    if journal is None:
        print("  not run yet")
        return
    deviated = " (deviated)" if journal["deviated"] else ""
    print(f"  run: {journal['status'] or 'running'}{deviated}")
    if journal.get("error"):
        print(f"  error: {journal['error']}")
    for step in [*journal["steps"], *journal["rollbacks"]]:
        line = (
            f"    {step['phase']:<8} {step['name']:<24} {step['status']:<9} "
            f"attempts {step['attempts']}  {short_time(step['started_at'])}"
        )
        print(line + (f"  {step['error']}" if step["error"] else ""))
        if "plan" in (step.get("output") or {}):
            print(_indented(step["output"]["plan"], "      plan: "))
    if journal.get("rollbacks_pending"):
        print("  rollbacks pending: they run at the next daemon start")
    dr = (journal.get("extensions") or {}).get("dr") or {}
    if dr.get("targets"):
        print(f"  RTO/RPO: {_measured(dr)} -> targets {dr['policy']}")


def _indented(plan: Any, first: str) -> str:
    """A dry run's plan (SQL, commands, API calls) under its step."""
    text = plan if isinstance(plan, str) else json.dumps(plan, indent=2, default=str)
    pad = " " * len(first)
    return first + text.replace("\n", "\n" + pad)


def _measured(dr: dict[str, Any]) -> str:
    parts = []
    for key in ("rto", "rpo"):
        value, target = dr.get(f"{key}_seconds"), dr["targets"].get(f"{key}_seconds")
        shown = "-" if value is None else f"{value:.2f}s"
        if target is not None:
            shown += f" (target {target:g}s: {dr['verdicts'].get(key)})"
        parts.append(f"{key.upper()} {shown}")
    return ", ".join(parts)


def _decide(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    approval = Approval(
        job_id=args.job_id, approved=args.approved, by=args.by, comment=args.comment
    )
    job = with_store(config, lambda store: store.decide_approval(approval))
    if args.json:
        print_json(job_view(job))
        return 0
    if args.approved:
        print(f"job {job.id} approved by {args.by}: pending, the daemon runs it next")
    else:
        print(f"job {job.id} rejected by {args.by}: it will not run")
    return 0
