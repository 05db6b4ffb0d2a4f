"""The releases family: the deploy runbook's `releases.*` actions, the `releases` resource
(the releases root and the Salt master) and the release metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.core.resources import Resources
from orchestrator.engine.config import SaltConfig
from orchestrator.families.base import Family, HookDeps, ResourceDeps
from orchestrator.families.releases import actions, history
from orchestrator.families.releases.config import ReleasesConfig
from orchestrator.families.releases.metrics import ReleaseMetrics, ReleaseMetricsHook
from orchestrator.families.releases.saltcli import SaltCli
from orchestrator.families.releases.service import RELEASES, Deployer


class ReleaseSettings(Protocol):
    @property
    def env(self) -> str: ...

    @property
    def salt(self) -> SaltConfig: ...

    @property
    def releases(self) -> ReleasesConfig: ...


class ReleasesFamily(Family[ReleaseSettings]):
    name = "releases"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def build_resources(self, deps: ResourceDeps[ReleaseSettings], env: str) -> Resources:
        """The deployer, where a releases root and a master are configured."""
        config = deps.config
        if config.releases.root is None or config.salt.master_config is None:
            return Resources()
        salt = SaltCli(config_dir=config.salt.master_config.parent)
        return Resources().add(RELEASES, Deployer(config=config.releases, salt=salt))

    def build_hooks(self, deps: HookDeps[ReleaseSettings]) -> Sequence[RunHook]:
        metrics = ReleaseMetrics(deps.registry)
        metrics.start(deps.config.env)
        if deps.config.releases.root is not None:
            metrics.recall(history.records(deps.config.releases.root))
        return [ReleaseMetricsHook(metrics)]
