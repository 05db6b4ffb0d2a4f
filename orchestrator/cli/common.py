"""Settings every command shares, so that `run` and the commands that talk to it agree."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.app.config import Config, load_config


def command_group(commands: Any, name: str, **texts: str) -> Any:
    """`fluxora-orch NAME ACTION`: the command (argparse's `help` and `description` in `texts`)
    and the subparsers its actions join (`add_action`)."""
    group = commands.add_parser(name, **texts)
    return group.add_subparsers(title="actions", metavar="ACTION", required=True)


def add_action(
    verbs: Any,
    parent: argparse.ArgumentParser,
    name: str,
    func: Callable[[argparse.Namespace], int],
    **texts: str,
) -> argparse.ArgumentParser:
    """One action of a command group, with the shared settings; it runs `func`."""
    parser: argparse.ArgumentParser = verbs.add_parser(name, parents=[parent], **texts)
    parser.set_defaults(func=func)
    return parser


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (argument > environment > file > default)")
    group.add_argument(
        "--config", type=Path, metavar="FILE", help="config file (YAML); env FLUXORA_CONFIG"
    )
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="state directory; env FLUXORA_DATA_DIR; default ~/.local/state/fluxora",
    )
    group.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="HTTP address; env FLUXORA_LISTEN; default 127.0.0.1:8470",
    )
    group.add_argument("--json", action="store_true", help="print JSON instead of text")
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say more: when no job is made, every rule's reason (not only the ones that matched)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(config_file=args.config, data_dir=args.data_dir, listen=args.listen)
