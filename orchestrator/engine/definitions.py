"""Runbooks, rules and schedules loaded and cross-checked: what the daemon starts with and
what `validate` checks offline. The first invalid item raises an error naming its file, its
name and the key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.jobs import ScheduledRun
from orchestrator.core.runbooks import ParameterError, RunbookSpec
from orchestrator.engine.rules.engine import (
    CompiledRule,
    compile_rules,
    event_context,
    renderable,
)
from orchestrator.engine.runbooks.catalog import RunbookCatalog, load_catalog
from orchestrator.engine.sources.schedules import ScheduleSpec, parse_schedules, schedule_event


@dataclass(frozen=True, kw_only=True)
class Definitions:
    runbooks: RunbookCatalog
    rules: list[CompiledRule]
    schedules: list[ScheduleSpec]


def scheduled_runs(definitions: Definitions, env: str, now: datetime) -> list[ScheduledRun]:
    """The run of each schedule (and rule it fires), found by putting the schedule's event
    through the rules exactly as when it fires (glob, `when`, templated `run`, `with`, env); a
    rule that would decide `error` runs nothing."""
    runs = []
    for spec in definitions.schedules:
        context = {"event": event_context(schedule_event(spec, now, None)), "env": env}
        interval = spec.interval_seconds(now)
        for rule in definitions.rules:
            keys = rule.keys_for(context, env)
            if keys is not None:
                runs.append(
                    ScheduledRun(
                        schedule=spec.name,
                        runbook=keys.runbook,
                        env=keys.env,
                        params=keys.params,
                        interval_seconds=interval,
                    )
                )
    return runs


SCHEDULE_TAGS = "fluxora/schedule/"


@dataclass(frozen=True, kw_only=True)
class Start:
    """A runbook that a schedule or a rule starts, with the parameters known before it runs."""

    source: str  # "schedule 'NAME'" or "rule 'NAME'"
    runbook: str
    env: str
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PlannedCall:
    """One action call of a started runbook, with the parameters that render before the run
    (those that read earlier steps' outputs are left out)."""

    start: Start
    key: str  # where in the runbook: steps.0, rollback.1, steady_state.before.0, ...
    action: str
    params: dict[str, Any]


def starts(definitions: Definitions, env: str, now: datetime) -> list[Start]:
    """Every runbook a schedule starts (with its full parameters) and every runbook a rule
    starts whatever its event says (with the parameters that do not depend on the event);
    runbooks that may not run in their env, or whose parameters do not bind, are left out:
    the rule would reject them."""
    found = [
        Start(
            source=f"schedule {run.schedule!r}",
            runbook=run.runbook,
            env=run.env,
            params=dict(run.params),
        )
        for run in scheduled_runs(definitions, env, now)
    ]
    # A rule on schedule events starts only what the schedules above start.
    for rule in (r for r in definitions.rules if not r.spec.match.startswith(SCHEDULE_TAGS)):
        started = rule.start_without_event(env)
        if started is not None:
            runbook, target, params = started
            found.append(
                Start(source=f"rule {rule.name!r}", runbook=runbook, env=target, params=params)
            )
    return [start for start in found if _runs(definitions, start)]


def _runs(definitions: Definitions, start: Start) -> bool:
    return start.runbook in definitions.runbooks and definitions.runbooks.allows(
        start.runbook, start.env
    )


def planned_calls(definitions: Definitions, start: Start) -> list[PlannedCall]:
    """The action calls of `start`'s runbook with what renders of their parameters."""
    runbook: RunbookSpec = definitions.runbooks.get(start.runbook)
    try:
        params = runbook.bind(start.params)
    except ParameterError:
        params = {**_defaults(runbook), **start.params}
    job = {"id": "planned", "runbook": runbook.name, "env": start.env}
    context = {"params": params, "env": start.env, "job": job, "steps": {}}
    return [
        PlannedCall(
            start=start, key=key, action=call.action, params=renderable(call.params, context)
        )
        for key, call in runbook.calls()
    ]


def _defaults(runbook: RunbookSpec) -> dict[str, Any]:
    return {name: spec.default for name, spec in runbook.parameters.items()}


def load_definitions(
    *,
    runbooks_dir: Path,
    rules: Sequence[Any],
    schedules: Sequence[Any],
    source: str,
    registry: ActionRegistry,
) -> Definitions:
    """`rules` and `schedules` as read from `source` (a file path, for the errors)."""
    catalog = load_catalog(runbooks_dir, registry)
    return Definitions(
        runbooks=catalog,
        rules=compile_rules(rules, source, catalog),
        schedules=parse_schedules(schedules, source),
    )
