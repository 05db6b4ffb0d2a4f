"""`fluxora-orch events` (recent events) and `explain EVENT_ID` (every rule's decision)."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.cli.client import read
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json, short_time, table
from orchestrator.engine.api import queries


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    events = commands.add_parser(
        "events",
        parents=[parent],
        help="list recent events, newest first",
        description="List recent events (newest first) from the daemon, or its store.",
    )
    events.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    events.add_argument("--tag", metavar="GLOB", help="only tags matching this glob")
    events.set_defaults(func=_events)
    explain = commands.add_parser(
        "explain",
        parents=[parent],
        help="why an event did or did not fire each rule",
        description="Show an event and every rule's decision about it, with the reason.",
    )
    explain.add_argument("event_id", metavar="EVENT_ID")
    explain.set_defaults(func=_explain)


def _events(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    found = read(
        config,
        "events",
        lambda s: queries.list_events(s, args.limit, args.tag),
        limit=args.limit,
        tag=args.tag,
    )
    if args.json:
        print_json(found)
        return 0
    rows = [
        [
            short_time(e["received_at"]),
            e["id"],
            e["source"],
            e["tag"],
            "processed" if e["processed_at"] else "in inbox",
        ]
        for e in found
    ]
    print(table(["RECEIVED", "ID", "SOURCE", "TAG", "STATE"], rows) if rows else "no events")
    return 0


def _explain(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    found = read(config, f"events/{args.event_id}", lambda s: queries.explain(s, args.event_id))
    if args.json:
        print_json(found)
        return 0
    print(f"event {found['id']}: {found['tag']} ({found['source']})")
    print(
        f"  received {short_time(found['received_at'])}, "
        f"processed {short_time(found['processed_at'])}"
    )
    if not found["decisions"]:
        print("  not decided yet (still in the inbox)")
    for decision in found["decisions"]:
        job = f" job {decision['job_id']}" if decision["job_id"] else ""
        print(f"  {decision['rule']}: {decision['decision']}{job}\n    {decision['reason']}")
    return 0
