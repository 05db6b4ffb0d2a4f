"""How often the schedules run each drill (`fluxora_drill_interval_seconds`, exported at start:
the overdue alert compares the last success against it)."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.jobs import ScheduledRun

Drill = tuple[str, str]  # (runbook, env)


def drill_intervals(runs: Iterable[ScheduledRun]) -> dict[Drill, float]:
    """(runbook, env) -> the shortest interval of the schedules that run it."""
    intervals: dict[Drill, float] = {}
    for run in runs:
        drill = (run.runbook, run.env)
        intervals[drill] = min(run.interval_seconds, intervals.get(drill, run.interval_seconds))
    return intervals
