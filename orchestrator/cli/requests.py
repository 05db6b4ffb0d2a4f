"""Running a runbook as a job of the daemon, the way every other event does: a signed
`fluxora/request/runbook/<name>` event to POST /events, whose rule (`<name>-on-request` in the
shipped rules) decides and creates the job; then the job is followed through /api/ until it
ends, and its steps' results are what the command prints. `--local` runs in this process
instead (orchestrator/cli/inprocess.py), which is also what happens when no daemon answers."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from rich.console import Console

from orchestrator.cli.client import DaemonError, base_url, get_json, post_event
from orchestrator.config import Config
from orchestrator.core.results import Result

POLL_SECONDS = 0.5
DECISION_TIMEOUT = 60.0  # deciding takes milliseconds; a minute means the daemon is stuck
FINISHED = {"completed", "failed", "aborted", "interrupted", "rejected"}


def add_local_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true", help="run in this process even when a daemon answers"
    )


def daemon_answers(config: Config) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url(config)}/healthz", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def request_tag(runbook: str) -> str:
    return f"fluxora/request/runbook/{runbook}"


def _decided(config: Config, event_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DECISION_TIMEOUT
    while True:
        decisions: list[dict[str, Any]] = get_json(config, f"events/{event_id}")["decisions"]
        if decisions:
            return decisions
        if time.monotonic() > deadline:
            raise DaemonError(f"event {event_id} not decided after {DECISION_TIMEOUT:.0f}s")
        time.sleep(POLL_SECONDS)


def _job_of(runbook: str, event_id: str, decisions: list[dict[str, Any]]) -> str:
    fired = [d for d in decisions if d["decision"] == "fired" and d["job_id"]]
    if fired:
        return str(fired[0]["job_id"])
    why = "; ".join(f"{d['rule']}: {d['decision']} ({d['reason']})" for d in decisions)
    raise DaemonError(f"the daemon did not run {runbook} for event {event_id}: {why}")


def _follow(config: Config, job_id: str, what: str, show: bool) -> dict[str, Any]:
    """Poll the job until it ends; a spinner with its current step on a terminal."""
    console = Console(stderr=True)
    with console.status(f"{what}: job {job_id} queued") as status:
        while True:
            job: dict[str, Any] = get_json(config, f"jobs/{job_id}")
            if job["status"] in FINISHED:
                return job
            current = (job.get("journal") or {}).get("current") or {}
            if show and current:
                status.update(f"{what}: job {job_id}, step {current['name']} running")
            time.sleep(POLL_SECONDS)


def _step_result(step: dict[str, Any]) -> Result:
    if step["status"] == "ok":
        return Result.success(changed=step["changed"], **step["output"])
    return Result.failure(step["error"] or f"step {step['status']}", **step["output"])


def run_on_daemon(
    config: Config, runbook: str, action: str, params: dict[str, Any], *, show: bool
) -> list[Result]:
    """Run `runbook` with `params` as a daemon job; the Results of its `action` steps (a job
    that ends before running one is a failed Result naming the job and its error)."""
    if config.webhook.secret is None:
        raise DaemonError(
            f"the daemon at {base_url(config)} takes requests signed with the webhook secret: "
            "set FLUXORA_WEBHOOK_SECRET or webhook.secret, or run in this process with --local"
        )
    answer = post_event(config, request_tag(runbook), params, None)
    job_id = _job_of(runbook, answer["id"], _decided(config, answer["id"]))
    print(f"{runbook}: job {job_id} on the daemon at {base_url(config)}", file=sys.stderr)
    job = _follow(config, job_id, runbook, show)
    steps = [s for s in (job.get("journal") or {}).get("steps", []) if s["action"] == action]
    if steps:
        return [_step_result(step) for step in steps]
    error = (job.get("journal") or {}).get("error") or job["status"]
    return [Result.failure(f"job {job_id} ({runbook}) ended {job['status']}: {error}")]


def run_requests(
    config: Config,
    local: Callable[[], list[Result]],
    on_daemon: Callable[[], list[Result]],
    *,
    force_local: bool,
) -> list[Result]:
    """On the daemon when one answers (unless --local); else in this process, with a note."""
    if force_local:
        return local()
    if not daemon_answers(config):
        print(f"note: no daemon at {base_url(config)}; running in this process", file=sys.stderr)
        return local()
    return on_daemon()
