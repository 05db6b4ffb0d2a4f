"""The backup family: `postgres.backup|restore|verify|prune`, the resources they use
(`objectstore`, `dr_objectstore`, `databases`, `backup`) and the backup metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.families.backup import actions, hooks, resources
from orchestrator.families.backup.config import BackupFamilyConfig
from orchestrator.families.base import Family, HookDeps, ResourceDeps


class BackupFamily(Family[BackupFamilyConfig]):
    name = "backup"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def build_resources(
        self, deps: ResourceDeps[BackupFamilyConfig], env: str
    ) -> Mapping[str, Any]:
        """The same for every environment."""
        return resources.build_resources(deps)

    def build_hooks(self, deps: HookDeps[BackupFamilyConfig]) -> Sequence[RunHook]:
        """Backup metrics on the process's registry, kept up to date from finished jobs."""
        return hooks.build_hooks(deps)
