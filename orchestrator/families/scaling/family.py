"""The scaling family: the `aws.asg.*` actions, the `scaling_history` table, the `scaling`
resource and the scaling metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import MetaData

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.core.resources import Resources
from orchestrator.families.base import Family, HookDeps, ResourceDeps
from orchestrator.families.scaling import actions, history
from orchestrator.families.scaling.config import ScalingConfig
from orchestrator.families.scaling.metrics import ScalingMetrics, ScalingMetricsHook
from orchestrator.families.scaling.service import SCALING, Scaler


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

    def build_resources(self, deps: ResourceDeps[ScalingSettings], env: str) -> Resources:
        """The `scaling` resource: the policies and the store, which keeps each group's
        history (the groups themselves are reached through the shared `aws` resource)."""
        return Resources().add(SCALING, Scaler(deps.config.scaling, deps.store, deps.tables))

    def build_hooks(self, deps: HookDeps[ScalingSettings]) -> Sequence[RunHook]:
        metrics = ScalingMetrics(deps.registry)
        config = deps.config
        metrics.start(name for name, p in config.scaling.groups.items() if p.env == config.env)
        return [ScalingMetricsHook(metrics)]

    def configured_names(self, config: ScalingSettings) -> Mapping[str, Mapping[str, list[str]]]:
        """The Auto Scaling groups of each environment."""
        envs: dict[str, list[str]] = {}
        for name, policy in sorted(config.scaling.groups.items()):
            envs.setdefault(policy.env, []).append(name)
        return {"scaling_groups": envs}

    def missing(
        self, settings: ScalingSettings, env: str, action: str, params: Mapping[str, Any]
    ) -> Sequence[str]:
        group = params.get("group")
        if isinstance(group, str) and group not in settings.scaling.groups:
            return (f"scaling.groups.{group}",)
        return ()
