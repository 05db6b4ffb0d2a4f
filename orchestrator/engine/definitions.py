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
from orchestrator.engine.rules.engine import CompiledRule, compile_rules, event_context
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
