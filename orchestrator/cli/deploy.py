"""`fluxora-orch deploy plan|apply ENV --release R`.

`plan` runs here: `state.apply test=True` of the release on the environment's hosts,
summarised per host and resource (add/change/remove, and states that could not be planned),
stored by digest; exit 0 when nothing would change, 2 when something would (Terraform's
-detailed-exitcode), 1 on an error. `apply` makes the plan, then asks for a `deploy` job the
way `runbook run` does (a signed `fluxora/request/runbook/deploy` event to the daemon, or in
this process when none answers) with the plan's digest, and follows it: where the environment
needs approval, the job waits for `fluxora-orch approve JOB_ID` of that plan."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from orchestrator.cli.common import add_action, command_group, config_from_args
from orchestrator.cli.inprocess import context
from orchestrator.cli.jobs import print_journal
from orchestrator.cli.output import print_json
from orchestrator.cli.requests import (
    FINISHED,
    add_local_argument,
    daemon_answers,
    follow,
    note_no_daemon,
    request_tag,
    run_here,
    submit,
)
from orchestrator.core.jobs import JobStatus
from orchestrator.families.releases.plan import Plan
from orchestrator.families.releases.service import RELEASES

CHANGES = 2
STOPS = FINISHED | {JobStatus.AWAITING_APPROVAL.value}


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    verbs = command_group(commands, "deploy",
        help="plan and apply a release in an environment",
        description="Deploy releases: plan one in an environment (what would change), or "
        "apply it through the deploy runbook (gates, approval, verification, rollback).",
    )  # fmt: skip
    plan = add_action(verbs, parent, "plan", _plan, help="what a release would change",
        description="state.apply test=True of the release on the environment's hosts, as "
        "add/change/remove per host and resource, stored by digest. Exit 0: no changes; 2: "
        "changes (or drift, for the pinned release); 1: an error.",
    )  # fmt: skip
    apply = add_action(verbs, parent, "apply", _apply, help="deploy a release (runbook)",
        description="Plan, then run the deploy runbook with the plan's digest through the "
        "daemon (or here): gates, approval (prod), pin, apply, verify, rollback on failure. "
        "Exit 0 only when the deploy completed; a job waiting for approval says how to approve.",
    )  # fmt: skip
    add_local_argument(apply)
    for parser in (plan, apply):
        parser.add_argument("env", metavar="ENV")
        parser.add_argument("--release", required=True, metavar="VERSION")


def _make_plan(args: argparse.Namespace) -> Plan:
    with context(args) as ctx:
        deployer = ctx.resource(RELEASES)
        return deployer.plan(args.env, deployer.release(args.release))


def _print_plan(plan: Plan) -> None:
    counts = plan.counts()
    print(f"plan {plan.digest} of release {plan.release} in {plan.env}: "
          + ", ".join(f"{counts[a]} to {a}" for a in ("add", "change", "remove"))
          + (f", {counts['error']} errors" if counts["error"] else ""))  # fmt: skip
    for item in plan.items:
        print(f"  {item.action.value:<6} {item.host}: {item.resource}")


def _plan(args: argparse.Namespace) -> int:
    plan = _make_plan(args)
    if args.json:
        print_json(plan.to_json())
    else:
        _print_plan(plan)
    if plan.counts()["error"]:
        return 1
    return CHANGES if plan.changes else 0


def _apply(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    plan = _make_plan(args)
    if not args.json:
        _print_plan(plan)
    data = {"env": args.env, "params": {"release": args.release, "plan": plan.digest}}
    if args.local or not daemon_answers(config):
        if not args.local:
            note_no_daemon(config)
        job = run_here(config, request_tag("deploy"), data, show=not args.json)
    else:
        job_id = submit(config, "deploy", data)
        job = follow(config, job_id, deadline=time.monotonic() + 7200, until=STOPS)
    if args.json:
        print_json(job)
    elif job["status"] == JobStatus.AWAITING_APPROVAL.value:
        print(f"job {job['id']}: deploy of {args.release} to {args.env} awaits approval of plan "
              f"{plan.digest}: fluxora-orch approve {job['id']}", file=sys.stderr)  # fmt: skip
    else:
        print(f"job {job['id']}: deploy of {args.release} to {args.env}: {job['status']}")
        print_journal(job["journal"])
    return 0 if job["status"] == "completed" else 1
