"""The drills family: drill runs recorded in their own table, and the executor hooks of DR
runbooks (steady state, stop conditions, RTO/RPO against targets and the drill metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import MetaData

from orchestrator.core.events import utcnow
from orchestrator.core.hooks import RunHook
from orchestrator.families.base import Family, HookDeps
from orchestrator.families.drills import records
from orchestrator.families.drills.checks import SteadyStateHook, StopConditionHook
from orchestrator.families.drills.measure import is_drill
from orchestrator.families.drills.records import DrillMetrics, MeasurementHook
from orchestrator.families.drills.schedules import drill_intervals


class DrillSettings(Protocol):
    @property
    def env(self) -> str: ...


class DrillsFamily(Family[DrillSettings]):
    name = "drills"

    def define_tables(self, metadata: MetaData) -> None:
        records.define_tables(metadata)

    def build_hooks(self, deps: HookDeps[DrillSettings]) -> Sequence[RunHook]:
        """Order matters: steady state first (its abort stops the watchers from starting)."""
        metrics = DrillMetrics(deps.registry)
        definitions = deps.definitions
        drills = {r.name: r for r in definitions.runbooks if is_drill(r)}
        for runbook in drills.values():  # this daemon's env; others' as their drills run here
            if deps.config.env in runbook.environments:
                metrics.set_targets(runbook, deps.config.env)
        intervals = drill_intervals(
            definitions.schedules, definitions.rules, deps.config.env, utcnow()
        )
        for (name, env), seconds in intervals.items():
            if name in drills:
                metrics.interval.labels(name, env).set(seconds)
        metrics.restore(deps.tables)
        return [
            SteadyStateHook(),
            StopConditionHook(),
            MeasurementHook(metrics, deps.runner, deps.tables),
        ]
