"""`fluxora-orch scale GROUP --to N | --by ±N [--env E] [--dry-run]`: an operator's scaling
request. It takes the path of every event (a signed `fluxora/request/scale/<to|out|in>` to the
daemon, a rule, a `scale-to`/`scale-out`/`scale-in` job) so the same policy, cooldown and
locks apply and the decision is recorded; the command waits for the job and prints what it
did. `--dry-run` reads the group and the history here and prints the decision without
submitting anything."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from orchestrator.app.config import Config
from orchestrator.app.local import local
from orchestrator.cli.common import config_from_args
from orchestrator.cli.inprocess import add_command
from orchestrator.cli.output import print_json
from orchestrator.cli.requests import FINISHED, follow, submit_event
from orchestrator.core.errors import FluxoraError

STOPS = FINISHED | {"awaiting-approval"}  # an approval can take days: say so and return


class ScaleError(FluxoraError, ValueError):
    pass


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = add_command(
        commands, "scale", parent, _scale,
        help="scale an Auto Scaling group within its policy (through the daemon)",
        description="Set (--to) or step (--by) a group's desired capacity. The daemon applies "
        "the group's policy: bounds (clamped), cooldown, warmup, protection windows, the DR "
        "lock and the prod approval step; a suppressed request exits 1 with the reason.",
    )  # fmt: skip
    parser.add_argument("group", metavar="GROUP", help="the group's AWS name (fluxora-ENV-KEY)")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--to", type=int, metavar="N", help="desired capacity")
    how.add_argument("--by", type=int, metavar="±N", help="instances to add (+) or remove (-)")
    parser.add_argument(
        "--wait", type=float, default=120.0, metavar="SECONDS", help="how long to wait for the job"
    )


def _scale(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    env = args.env or config.env
    config.scaling.policy(args.group, env)  # unknown group / another env's group: an error
    tag, data, action, params = _request(args, env)
    if args.dry_run:
        return _print_outcome(args, _dry_run(config, env, action, params))
    job_id = submit_event(config, tag, data, f"the scaling request for {args.group}")
    job = follow(config, job_id, deadline=time.monotonic() + args.wait, until=STOPS)
    return _print_outcome(args, _outcome(job))


def _request(args: argparse.Namespace, env: str) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """The event (tag, data) and the action call (name, params) the request stands for."""
    base = {"group": args.group, "env": env}
    if args.to is not None:
        if args.to < 0:
            raise ScaleError(f"--to: capacity must be 0 or more, got {args.to}")
        params = {"group": args.group, "capacity": args.to}
        return (
            "fluxora/request/scale/to",
            {**base, "capacity": args.to},
            "aws.asg.set_capacity",
            params,
        )
    if args.by == 0:
        raise ScaleError("--by: must not be 0")
    step = "out" if args.by > 0 else "in"
    params = {"group": args.group, "step": step, "by": abs(args.by)}
    return f"fluxora/request/scale/{step}", {**base, "by": abs(args.by)}, "aws.asg.scale_by", params


def _dry_run(config: Config, env: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
    with local(config) as wiring:
        found = wiring.registry.get(action)
        result = found(wiring.context(env, dry_run=True), found.parse(params))
    return {"ok": result.ok, "error": result.error, **result.data}


def _outcome(job: dict[str, Any]) -> dict[str, Any]:
    """What the job did: its last step's output, or that it waits for approval."""
    if job["status"] == "awaiting-approval":
        return {"ok": True, "job_id": job["id"], "result": "awaiting-approval"}
    steps = (job["journal"] or {}).get("steps") or [{}]
    step = steps[-1]
    error = step.get("error") or (job["journal"] or {}).get("error")
    return {"ok": job["status"] == "completed", "error": error, "job_id": job["id"],
            **step.get("output", {})}  # fmt: skip


def _print_outcome(args: argparse.Namespace, outcome: dict[str, Any]) -> int:
    if not outcome["ok"]:
        if args.json:
            print_json(outcome)
        raise ScaleError(outcome["error"] or "the scaling job failed")
    print_json(outcome) if args.json else print(_summary(outcome))
    if outcome.get("result") == "suppressed" and not outcome.get("approval_job"):
        print(f"fluxora-orch: not scaled ({outcome['suppressed']})", file=sys.stderr)
        return 1
    return 0


def _summary(outcome: dict[str, Any]) -> str:
    result = outcome.get("result")
    gated = outcome.get("approval_job") or (result == "awaiting-approval" and outcome["job_id"])
    if gated:
        return f"job {gated} awaits approval: fluxora-orch approve {gated}"
    where = f"{outcome['group']} ({outcome['env']})"
    verb = {"planned": "would scale", "applied": "scaled"}.get(result or "", result)
    return (
        f"{where}: {verb} {outcome['direction']} {outcome['current']} -> {outcome['target']}: "
        f"{outcome['reason']}"
    )
