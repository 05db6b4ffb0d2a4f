"""Running a runbook as a job of the daemon, the way every other event does: a signed
`fluxora/request/runbook/<name>` event to POST /events, whose rule (`runbook-request` in the
shipped rules) decides and creates the job; then the job is followed through /api/ until it
ends, and its steps' results are what the command prints. `--local` runs in this process
instead, on the same store through the same rules and runner (orchestrator/app/local.py),
which is also what happens when no daemon answers."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.app.config import Config
from orchestrator.app.local import local as app_local
from orchestrator.cli.client import (
    DaemonError,
    DaemonUnreachableError,
    api_path,
    base_url,
    get_json,
    post_event,
    with_store,
)
from orchestrator.cli.inprocess import progress_display
from orchestrator.core.decisions import DecisionLine, NoJobError
from orchestrator.core.errors import FluxoraError
from orchestrator.core.jobs import JobStatus
from orchestrator.core.results import Result
from orchestrator.engine.api import queries

POLL_SECONDS = 0.5
DECISION_TIMEOUT = 60.0  # deciding takes milliseconds; a minute means the daemon is stuck
RECONNECT_SECONDS = 300.0  # a restart takes seconds; a stopped daemon is the operator's call
FINISHED = frozenset(status.value for status in JobStatus if status.finished)


def add_local_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true", help="run in this process even when a daemon answers"
    )


def daemon_answers(config: Config) -> bool:
    try:
        # base_url(): http:// and the configured address.
        with urllib.request.urlopen(f"{base_url(config)}/healthz", timeout=2):  # nosec B310
            return True
    except (urllib.error.URLError, OSError):
        return False


def note_no_daemon(config: Config) -> None:
    print(f"note: no daemon at {base_url(config)}; running in this process", file=sys.stderr)


def request_tag(runbook: str) -> str:
    return f"fluxora/request/runbook/{runbook}"


def submit(config: Config, runbook: str, data: dict[str, Any]) -> str:
    """Send the request event (`env`, `params`, optional `dry_run`); the id of the
    job its decision created, or NoJobError with the rules' reasons when none did."""
    return submit_event(config, request_tag(runbook), data, runbook)


def submit_event(config: Config, tag: str, data: dict[str, Any], what: str) -> str:
    """Send a signed request event; the id of the job a decision created (fired, or waiting
    for approval), or NoJobError with the rules' reasons when none did."""
    event_id = post_event(config, tag, data, None)["id"]
    deadline = time.monotonic() + DECISION_TIMEOUT
    while not (decisions := get_json(config, api_path("events", event_id))["decisions"]):
        pause(deadline, f"event {event_id} to be decided")
    for decision in decisions:
        if decision["job_id"]:
            return str(decision["job_id"])
    lines = [
        DecisionLine(rule=d["rule"], outcome=d["decision"], reason=d["reason"]) for d in decisions
    ]
    raise NoJobError(f"{what} (event {event_id} to the daemon at {base_url(config)})", lines)


def follow(
    config: Config,
    job_id: str,
    *,
    deadline: float = float("inf"),
    on_update: Callable[[dict[str, Any]], None] = lambda job: None,
    until: frozenset[str] = FINISHED,
) -> dict[str, Any]:
    """Poll the job until its status is in `until`, by default until it ends (DaemonError at
    `deadline`); `on_update` sees every other poll. While the daemon does not answer (a
    restart), the job is read from its store, for up to RECONNECT_SECONDS."""
    away = Away(config, job_id)
    while True:
        try:
            job: dict[str, Any] = get_json(config, api_path("jobs", job_id))
            away.back()
        except DaemonUnreachableError as exc:
            job = away.read(exc)
        if job["status"] in until:
            return job
        on_update(job)
        pause(deadline, f"job {job_id} to finish")


class Away:
    """Following a job while its daemon does not answer: say so once, read the job from the
    store the daemon writes (a job that ended is the answer), and give up after
    RECONNECT_SECONDS with what was last seen."""

    def __init__(self, config: Config, job_id: str) -> None:
        self.config, self.job_id = config, job_id
        self.since: float | None = None
        self.last: dict[str, Any] | None = None

    def read(self, exc: DaemonUnreachableError) -> dict[str, Any]:
        now = time.monotonic()
        if self.since is None:
            self.since = now
            print(
                f"note: {exc}; following job {self.job_id} in its store and waiting up to "
                f"{RECONNECT_SECONDS:g}s for the daemon",
                file=sys.stderr,
            )
        try:
            self.last = with_store(self.config, lambda s: queries.job_detail(s, self.job_id))
        except (FluxoraError, OSError, SQLAlchemyError) as store_exc:  # restarting too
            print(f"note: store not readable: {store_exc}", file=sys.stderr)
        if self.last is not None and self.last["status"] in FINISHED:
            return self.last
        if now - self.since > RECONNECT_SECONDS:
            seen = self.last["status"] if self.last else "unknown"
            raise DaemonError(
                f"the daemon at {base_url(self.config)} has not answered for "
                f"{RECONNECT_SECONDS:g}s; job {self.job_id} was {seen} when last seen "
                f"(`fluxora-orch job {self.job_id}` shows it)"
            )
        return self.last or {"id": self.job_id, "status": "unknown"}

    def back(self) -> None:
        if self.since is not None:
            print(f"note: the daemon at {base_url(self.config)} answers again", file=sys.stderr)
            self.since = None


def pause(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise DaemonError(f"timed out waiting for {what}")
    time.sleep(POLL_SECONDS)


def _follow_with_spinner(config: Config, job_id: str, what: str, show: bool) -> dict[str, Any]:
    """`follow`, with a spinner naming the current step on a terminal."""
    console = Console(stderr=True)
    with console.status(f"{what}: job {job_id} queued") as status:

        def update(job: dict[str, Any]) -> None:
            current = (job.get("journal") or {}).get("current") or {}
            if show and current:
                status.update(f"{what}: job {job_id}, step {current['name']} running")

        return follow(config, job_id, on_update=update)


def _step_result(step: dict[str, Any]) -> Result:
    if step["status"] == "ok":
        return Result.success(changed=step["changed"], **step["output"])
    return Result.failure(step["error"] or f"step {step['status']}", **step["output"])


def action_results(job: dict[str, Any], action: str) -> list[Result]:
    """The Results of the job's `action` steps (a job that ends before running one is a failed
    Result naming the job and its error, or how to approve it)."""
    steps = [s for s in (job.get("journal") or {}).get("steps", []) if s["action"] == action]
    if steps:
        return [_step_result(step) for step in steps]
    if job["status"] == JobStatus.AWAITING_APPROVAL.value:
        reason = f"awaits approval: fluxora-orch approve {job['id']}"
    else:
        reason = f"ended {job['status']}: {(job.get('journal') or {}).get('error') or '-'}"
    return [Result.failure(f"job {job['id']} ({job['runbook']}) {reason}")]


def run_on_daemon(
    config: Config, runbook: str, request: dict[str, Any], *, show: bool
) -> dict[str, Any]:
    """Run `runbook` as a daemon job (`request`: env, params, dry_run; the lock is the
    runbook's) and follow it to its end; the job as /api/jobs/ID shows it."""
    if config.webhook.secret is None:
        raise DaemonError(
            f"the daemon at {base_url(config)} takes requests signed with the webhook secret: "
            "set FLUXORA_WEBHOOK_SECRET or webhook.secret, or run in this process with --local"
        )
    job_id = submit(config, runbook, request)
    print(f"{runbook}: job {job_id} on the daemon at {base_url(config)}", file=sys.stderr)
    return _follow_with_spinner(config, job_id, runbook, show)


def run_request(
    config: Config, runbook: str, request: dict[str, Any], *, local: bool, show: bool
) -> dict[str, Any]:
    """`runbook` as a job: on the daemon when one answers (unless `local`), else in this
    process on the same store, through the same rules, locks and runner (with a note); the
    job as /api/jobs/ID shows it."""
    if not local:
        if daemon_answers(config):
            return run_on_daemon(config, runbook, request, show=show)
        note_no_daemon(config)
    return run_here(config, request_tag(runbook), request, show=show)


def run_here(config: Config, tag: str, request: dict[str, Any], *, show: bool) -> dict[str, Any]:
    """The request event through the rules and its job run in this process, on the store."""
    with app_local(config) as wiring, progress_display(show) as update:
        return wiring.run_request(tag, request, update)
