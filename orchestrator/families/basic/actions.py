"""`noop`, `log` and `wait`: actions with no side effect beyond the journal, for wiring,
drills (let replication settle) and tests; `check.file`: a check on a path (a stop file: an
operator halts every drill that checks it by creating it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry, NoParams
from orchestrator.core.results import Result


class WaitParams(ActionParams):
    seconds: float = Field(ge=0, le=86400)


class LogParams(ActionParams):
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)


def noop(ctx: ActionContext, params: NoParams) -> Result:
    return Result.success()


def log_message(ctx: ActionContext, params: LogParams) -> Result:
    ctx.log.info(params.message, job_id=ctx.job_id, env=ctx.env, **params.fields)
    return Result.success(message=params.message)


def wait(ctx: ActionContext, params: WaitParams) -> Result:
    """Sleep, waking early (and failing) when the run is cancelled; a dry run only plans."""
    if ctx.dry_run:
        return Result.success(plan=f"wait {params.seconds:g}s")
    if ctx.cancelled.wait(params.seconds):
        return Result.failure(f"cancelled before {params.seconds:g}s had passed")
    return Result.success(seconds=params.seconds)


class FileCheckParams(ActionParams):
    path: Path
    exists: bool = True
    """Whether the check passes when the path exists (true) or when it is absent (false)."""


def check_file(ctx: ActionContext, params: FileCheckParams) -> Result:
    found = params.path.exists()
    if found == params.exists:
        return Result.success(path=str(params.path), exists=found)
    state = "exists" if found else "does not exist"
    return Result.failure(f"{params.path} {state}", path=str(params.path), exists=found)


def register(registry: ActionRegistry) -> None:
    registry.register("noop", NoParams, "Do nothing and succeed.")(noop)
    registry.register("log", LogParams, "Write a message (and fields) to the daemon log.")(
        log_message
    )
    registry.register("wait", WaitParams, "Wait some seconds (cancellable).")(wait)
    registry.register(
        "check.file", FileCheckParams, "Pass when a path exists (or, exists: false, is absent)."
    )(check_file)
