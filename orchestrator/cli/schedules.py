"""`fluxora-orch schedules list|run`: when each schedule fires next and what it starts; and a
schedule fired now, through the normal event path (its `fluxora/schedule/<name>` event, signed,
to POST /events: the same rules decide it as when it fires by itself)."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.app import wiring
from orchestrator.cli.common import add_action, command_group, config_from_args
from orchestrator.cli.output import print_json, table
from orchestrator.cli.requests import submit_event
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import utcnow
from orchestrator.engine.definitions import Definitions
from orchestrator.engine.sources.schedules import ScheduleSpec, schedule_event


class UnknownScheduleError(FluxoraError, LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no schedule named {name!r} (schedules: {', '.join(known) or 'none'})")


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    verbs = command_group(
        commands,
        "schedules",
        help="list the schedules, or run one now",
        description="The configured schedules: when each fires next and what it starts; run "
        "one now through the daemon (to re-run a failed nightly drill).",
    )
    add_action(
        verbs,
        parent,
        "list",
        _list,
        help="each schedule's next fire time and the runbooks it starts",
        description="Each schedule of the config: its trigger, its next fire time (UTC) and "
        "the runbook, env and parameters of each job its event makes through the rules.",
    )
    run = add_action(
        verbs,
        parent,
        "run",
        _run,
        help="fire a schedule now, through the daemon",
        description="Send the schedule's event (fluxora/schedule/NAME with its data), signed, "
        "to the daemon; the rules decide it as when it fires by itself (locks, approval). "
        "Prints the job it made; exit 1 when none (every rule's reason).",
    )
    run.add_argument("name", metavar="NAME")


def _spec(definitions: Definitions, name: str) -> ScheduleSpec:
    for spec in definitions.schedules:
        if spec.name == name:
            return spec
    raise UnknownScheduleError(name, [s.name for s in definitions.schedules])


def _rows(config: Any, definitions: Definitions) -> list[dict[str, Any]]:
    now = utcnow()
    runs = wiring.scheduled_runs(config, definitions)
    return [
        {
            "name": spec.name,
            "trigger": spec.cron or f"every {spec.interval:g}s",
            "next_fire": spec.next_fire(now).isoformat(timespec="seconds"),
            "starts": [
                {"runbook": r.runbook, "env": r.env, "params": dict(r.params)}
                for r in runs
                if r.schedule == spec.name
            ],
        }
        for spec in definitions.schedules
    ]


def _list(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    rows = _rows(config, wiring.definitions(config))
    if args.json:
        print_json(rows)
        return 0
    lines = [
        [row["name"], row["trigger"], row["next_fire"], _starts(row["starts"])] for row in rows
    ]
    print(table(["NAME", "TRIGGER", "NEXT FIRE (UTC)", "STARTS"], lines) if lines else "none")
    return 0


def _starts(starts: list[dict[str, Any]]) -> str:
    if not starts:
        return "nothing (no rule fires)"
    return "; ".join(f"{s['runbook']}@{s['env']} {_params(s['params'])}".strip() for s in starts)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()))


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    spec = _spec(wiring.definitions(config), args.name)
    event = schedule_event(spec, utcnow(), None)
    job_id = submit_event(config, event.tag, dict(event.data), f"schedule {spec.name}")
    if args.json:
        print_json({"schedule": spec.name, "tag": event.tag, "job_id": job_id})
    else:
        print(f"schedule {spec.name}: {event.tag} made job {job_id}")
    return 0
