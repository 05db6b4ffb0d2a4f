"""`fluxora-orch fire TAG --data JSON`: send a signed event to the daemon's POST /events."""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.cli.client import post_event
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json
from orchestrator.core.errors import FluxoraError


class UsageError(FluxoraError, ValueError):
    pass


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "fire",
        parents=[parent],
        help="send an event to the daemon (signed)",
        description="Send an event to the daemon's POST /events, signed with the webhook "
        "secret (FLUXORA_WEBHOOK_SECRET or webhook.secret in the config file).",
    )
    parser.add_argument("tag", metavar="TAG", help="event tag, e.g. fluxora/request/runbook/x")
    parser.add_argument("--data", default="{}", metavar="JSON", help="event data (a JSON object)")
    parser.add_argument("--id", metavar="ID", help="event id (a retry with the same id runs once)")
    parser.set_defaults(func=_fire)


def _fire(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--data: malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("--data: must be a JSON object")
    answer = post_event(config_from_args(args), args.tag, data, args.id)
    if args.json:
        print_json(answer)
    else:
        print(f"event {answer['id']} {answer['status']}")
    return 0
