"""`fluxora-orch events` (recent events) and `explain EVENT_ID` (every rule's decision), or
`explain --event FILE` (every rule's decision about an event in a file, offline: nothing is
sent or stored)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from orchestrator.app import wiring
from orchestrator.cli.client import api_path, limit_argument, read
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json, short_time, table
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import Event, EventSource, validate_tag
from orchestrator.engine.api import queries


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    events = commands.add_parser(
        "events",
        parents=[parent],
        help="list recent events, newest first",
        description="List recent events (newest first) from the daemon, or its store.",
    )
    events.add_argument(
        "--limit", type=limit_argument, default=20, help="how many (default 20, at most 1000)"
    )
    events.add_argument("--tag", metavar="GLOB", help="only tags matching this glob")
    events.set_defaults(func=_events)
    explain = commands.add_parser(
        "explain",
        parents=[parent],
        help="why an event did or did not fire each rule",
        description="Show an event and every rule's decision about it, with the reason. With "
        "--event FILE (YAML or JSON: tag, data, source), decide that event against the "
        "configured rules here, as a daemon with no history would, and store nothing.",
    )
    which = explain.add_mutually_exclusive_group(required=True)
    which.add_argument("event_id", metavar="EVENT_ID", nargs="?")
    which.add_argument("--event", type=Path, metavar="FILE", help="an event to test the rules on")
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
    if args.event is not None:
        found = wiring.explain_offline(config, read_event(args.event))
    else:
        event_id = args.event_id
        path = api_path("events", event_id)
        found = read(config, path, lambda s: queries.explain(s, event_id))
    if args.json:
        print_json(found)
        return 0
    print(f"event {found['id']}: {found['tag']} ({found['source']})")
    if args.event is None:
        print(
            f"  received {short_time(found['received_at'])}, "
            f"processed {short_time(found['processed_at'])}"
        )
    if found["processed_at"] is None and args.event is not None:
        print("  decided offline, as a daemon with no history would (stored nowhere)")
    elif not found["decisions"]:
        print("  not decided yet (still in the inbox)")
    for decision in found["decisions"]:
        job = f" job {decision['job_id']}" if decision["job_id"] else ""
        print(f"  {decision['rule']}: {decision['decision']}{job}\n    {decision['reason']}")
    return 0


class EventFileError(FluxoraError, ValueError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def read_event(path: Path) -> Event:
    """An event from a YAML or JSON file: `tag`, optional `data`, `source` (default webhook)
    and `id`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EventFileError(path, exc.strerror or str(exc)) from exc
    except yaml.YAMLError as exc:
        raise EventFileError(path, f"not valid YAML or JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise EventFileError(path, "must be a mapping with at least a tag")
    unknown = sorted(set(raw) - {"tag", "data", "source", "id"})
    if unknown:
        raise EventFileError(path, f"{unknown[0]}: unknown key (tag, data, source, id)")
    try:
        source = EventSource(raw.get("source", EventSource.WEBHOOK.value))
        extra = {"id": raw["id"]} if "id" in raw else {}
        tag = validate_tag(raw.get("tag"))
        return Event(tag=tag, source=source, data=raw.get("data") or {}, **extra)
    except ValueError as exc:  # InvalidEventError names the field; EventSource the value
        raise EventFileError(path, str(exc)) from None
