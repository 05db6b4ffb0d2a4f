"""The security family: `security.check` (the environment's live cloud resources against the
rules of `policy.py`) and its metrics. It reaches AWS through the `aws` resource."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.families.base import Family, HookDeps
from orchestrator.families.security import actions, policy
from orchestrator.families.security.metrics import SecurityMetrics, SecurityMetricsHook


class SecurityFamily(Family[Any]):
    name = "security"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def build_hooks(self, deps: HookDeps[Any]) -> Sequence[RunHook]:
        metrics = SecurityMetrics(deps.registry)
        metrics.start(deps.config.env, policy.RULES)
        return [SecurityMetricsHook(metrics)]
