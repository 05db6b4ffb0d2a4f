"""Which drills the schedules run, and how often: a schedule emits `fluxora/schedule/<name>`
and the rules map that event to a runbook and an environment, exactly as when it fires.
`fluxora_drill_interval_seconds` is exported from this at start (the overdue alert compares the
last success against it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.core.events import Event, EventSource
from orchestrator.core.templates import TemplateRenderError
from orchestrator.engine.rules.engine import CompiledRule, event_context
from orchestrator.engine.sources.schedules import ScheduleSpec, schedule_tag

Drill = tuple[str, str]  # (runbook, env)


def _sample_event(spec: ScheduleSpec, now: datetime) -> dict[str, Any]:
    event = Event(
        tag=schedule_tag(spec.name),
        source=EventSource.SCHEDULE,
        data={**spec.data, "schedule": spec.name, "scheduled_at": now.isoformat()},
    )
    return event_context(event)


def _runs(rule: CompiledRule, context: dict[str, Any], env: str) -> Drill | None:
    if not rule.matches(context["event"]["tag"]):
        return None
    try:
        if rule.when is not None and not rule.when(context):
            return None
        keys = rule.render(context, env)
    except TemplateRenderError:
        return None  # the rule would decide `error` when it fires: no drill to expect
    return keys.runbook, keys.env


def drill_intervals(
    schedules: Sequence[ScheduleSpec],
    rules: Sequence[CompiledRule],
    env: str,
    now: datetime,
) -> dict[Drill, float]:
    """(runbook, env) -> the shortest interval of the schedules whose event runs it."""
    intervals: dict[Drill, float] = {}
    for spec in schedules:
        context = {"event": _sample_event(spec, now), "env": env}
        seconds = spec.interval_seconds(now)
        for rule in rules:
            drill = _runs(rule, context, env)
            if drill is not None:
                intervals[drill] = min(seconds, intervals.get(drill, seconds))
    return intervals
