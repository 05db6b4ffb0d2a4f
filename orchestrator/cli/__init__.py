"""`fluxora-orch`: one module per command (or command group), each adding its own subparser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from orchestrator import __version__
from orchestrator.cli import (
    backup,
    backups,
    deploy,
    events,
    fire,
    jobs,
    release,
    restore,
    restore_verify,
    run,
    runbook,
    scale,
    schedules,
    validate,
)
from orchestrator.cli.common import add_settings_arguments
from orchestrator.core.decisions import NoJobError
from orchestrator.core.errors import FluxoraError

COMMANDS = (
    run,
    validate,
    fire,
    events,
    jobs,
    backup,
    backups,
    release,
    deploy,
    restore,
    restore_verify,
    runbook,
    scale,
    schedules,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluxora-orch",
        description="Fluxora orchestrator: events and schedules in, decisions and jobs out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    parent = argparse.ArgumentParser(add_help=False)
    add_settings_arguments(parent)
    for module in COMMANDS:
        module.register(commands, parent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NoJobError as exc:
        text = exc.verbose_text if getattr(args, "verbose", False) else str(exc)
        print(f"fluxora-orch: error: {text}", file=sys.stderr)
        return 1
    except FluxoraError as exc:
        print(f"fluxora-orch: error: {exc}", file=sys.stderr)
        return 1
