"""The scaling family: the `aws.asg.*` actions, the `scaling_history` table, the `scaling`
resource and the scaling metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import MetaData

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.families.base import Family, HookDeps, ResourceDeps
from orchestrator.families.scaling import actions, history
from orchestrator.families.scaling.config import ScalingConfig
from orchestrator.families.scaling.metrics import ScalingMetrics, ScalingMetricsHook
from orchestrator.families.scaling.service import Scaler


class ScalingSettings(Protocol):
    @property
    def env(self) -> str: ...

    @property
    def scaling(self) -> ScalingConfig: ...


class ScalingFamily(Family[ScalingSettings]):
    name = "scaling"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def define_tables(self, metadata: MetaData) -> None:
        history.define_tables(metadata)

    def build_resources(self, deps: ResourceDeps[ScalingSettings], env: str) -> Mapping[str, Any]:
        """The `scaling` resource: the policies and the store, which keeps each group's
        history (the groups themselves are reached through the shared `aws` resource)."""
        return {"scaling": Scaler(deps.config.scaling, deps.store, deps.tables)}

    def build_hooks(self, deps: HookDeps[ScalingSettings]) -> Sequence[RunHook]:
        metrics = ScalingMetrics(deps.registry)
        config = deps.config
        metrics.start(name for name, p in config.scaling.groups.items() if p.env == config.env)
        return [ScalingMetricsHook(metrics)]
