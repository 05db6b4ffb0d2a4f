"""`fluxora-orch run`: the daemon in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.app import daemon
from orchestrator.cli.common import config_from_args
from orchestrator.core import logs


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[parent],
        help="run the daemon until SIGTERM/SIGINT",
        description="Run the orchestrator daemon in the foreground until SIGTERM or SIGINT.",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    return daemon.run(config_from_args(args))
