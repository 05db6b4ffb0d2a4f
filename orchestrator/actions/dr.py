"""The DR family: the `check.file` action (a stop file: an operator halts every drill by
creating it), the drill results table, and the DR executor hooks (steady state, stop
conditions, RTO/RPO against targets and the drill metrics; see `orchestrator.dr`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.events import utcnow
from orchestrator.core.results import Result
from orchestrator.dr import drills
from orchestrator.dr.checks import SteadyStateHook, StopConditionHook
from orchestrator.dr.drills import DrillMetrics, MeasurementHook
from orchestrator.dr.measure import is_drill
from orchestrator.dr.schedules import drill_intervals
from orchestrator.executor.runner import HookDeps, RunHook

define_tables = drills.define_tables


class FileCheckParams(ActionParams):
    path: Path
    exists: bool = True
    """Whether the check passes when the path exists (true) or when it is absent (false)."""


def check_file(ctx: ActionContext, params: FileCheckParams) -> Result:
    found = params.path.exists()
    if found == params.exists:
        return Result.success(path=str(params.path), exists=found)
    state = "exists" if found else "does not exist"
    return Result.failure(f"{params.path} {state}", path=str(params.path), exists=found)


def register(registry: ActionRegistry) -> None:
    registry.register(
        "check.file", FileCheckParams, "Pass when a path exists (or, exists: false, is absent)."
    )(check_file)


def build_hooks(deps: HookDeps) -> Sequence[RunHook]:
    """Order matters: steady state first (its abort stops the watchers from starting)."""
    metrics = DrillMetrics(deps.registry)
    definitions = deps.definitions
    drills = {r.name: r for r in definitions.runbooks if is_drill(r)}
    for runbook in drills.values():  # this daemon's env; others' as their drills run here
        if deps.config.env in runbook.environments:
            metrics.set_targets(runbook, deps.config.env)
    intervals = drill_intervals(definitions.schedules, definitions.rules, deps.config.env, utcnow())
    for (name, env), seconds in intervals.items():
        if name in drills:
            metrics.interval.labels(name, env).set(seconds)
    metrics.restore(deps.runner.store)
    return [SteadyStateHook(), StopConditionHook(), MeasurementHook(metrics, deps.runner)]
