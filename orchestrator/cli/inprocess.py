"""Run an action in this process (`orchestrator.app.local`: wired as the job worker is, from
the same settings as `run`), so an operator can back up and verify while the daemon is down:
progress on a terminal, a summary, `--json`, and a non-zero exit with the reason on failure."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from orchestrator.app.families import builtin_registry
from orchestrator.app.local import local
from orchestrator.cli.common import add_action, config_from_args
from orchestrator.core import logs
from orchestrator.core.actions import ActionContext
from orchestrator.core.actions import Progress as ActionProgress
from orchestrator.core.results import Result


def add_command(
    commands: Any,
    name: str,
    parent: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], int],
    *,
    dry_run: bool = True,
    **texts: str,
) -> argparse.ArgumentParser:
    """A subcommand with the shared settings, `--env` and (unless it only reads) `--dry-run`;
    `texts` are argparse's help and description."""
    parser = add_action(commands, parent, name, run, **texts)
    parser.add_argument("--env", help="environment (default: the config's env)")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true", help="show what would be done")
    return parser


@contextmanager
def context(args: argparse.Namespace, *, dry_run: bool = False) -> Iterator[ActionContext]:
    """The action context of a command run here, on the local wiring (closed at the end)."""
    logs.configure("warning")  # retries and failures, as JSON lines on stderr
    config = config_from_args(args)
    with local(config) as wiring:
        yield wiring.context(args.env or config.env, dry_run=dry_run, job_id="cli")


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[ActionProgress], None]]:
    """A rich progress line (bytes, rate, elapsed) on a terminal; nothing otherwise."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _: None
        return
    columns = (
        TextColumn("{task.description}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(report: ActionProgress) -> None:
            if report.message not in tasks:
                tasks[report.message] = bar.add_task(report.message, total=report.total)
            bar.update(tasks[report.message], completed=report.done, total=report.total)

        yield update


def run_action(
    args: argparse.Namespace, ctx: ActionContext, name: str, params: dict[str, Any]
) -> Result:
    action = builtin_registry().get(name)
    parsed = action.parse(params)
    with progress_display(not args.json) as update:
        return action(dataclasses.replace(ctx, progress=update), parsed)


def finish(
    args: argparse.Namespace, results: list[Result], summary: Callable[[Result], str]
) -> int:
    """Print the results (JSON or one summary line each) and return the exit code."""
    if args.json:
        print(json.dumps([_as_json(r) for r in results], indent=2, default=str))
    for result in results:
        if result.ok:
            if not args.json:
                print(summary(result))
        else:
            print(f"fluxora-orch: error: {result.error}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


def _as_json(result: Result) -> dict[str, Any]:
    return {"ok": result.ok, "changed": result.changed, "error": result.error, **result.data}


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
