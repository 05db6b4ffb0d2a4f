"""The backup family: `postgres.backup|restore|verify|prune`, the resources they use besides
the object stores (`DATABASES`, `BACKUP`) and the backup metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.core.leftovers import Sweeper
from orchestrator.core.resources import Resources
from orchestrator.families.backup import actions, hooks, pitr, pitr_actions, resources
from orchestrator.families.backup.config import BackupFamilyConfig
from orchestrator.families.backup.restore import SCRATCH_DATABASE
from orchestrator.families.base import Family, HookDeps, ResourceDeps


class BackupFamily(Family[BackupFamilyConfig]):
    name = "backup"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)
        pitr_actions.register(registry)

    def build_resources(self, deps: ResourceDeps[BackupFamilyConfig], env: str) -> Resources:
        """The same for every environment."""
        return resources.build_resources(deps)

    def build_hooks(self, deps: HookDeps[BackupFamilyConfig]) -> Sequence[RunHook]:
        """Backup metrics on the process's registry, kept up to date from finished jobs."""
        return hooks.build_hooks(deps)

    def configured_names(self, config: BackupFamilyConfig) -> Mapping[str, Mapping[str, list[str]]]:
        """The databases of each environment (a backup of another one is refused)."""
        return {"databases": {env: sorted(names) for env, names in config.databases.items()}}

    def build_sweepers(self, deps: ResourceDeps[BackupFamilyConfig]) -> Mapping[str, Sweeper]:
        """Restore-verify's scratch databases (its scratch files are paths), restore nodes."""
        return {
            SCRATCH_DATABASE: partial(resources.sweep_scratch_database, deps.config),
            pitr.PITR_NODE: pitr.sweep_node,
        }

    def missing(
        self, settings: BackupFamilyConfig, env: str, action: str, params: Mapping[str, Any]
    ) -> Sequence[str]:
        if action in pitr_actions.ACTIONS:
            return pitr_actions.missing(settings, env, params)
        if action not in ("postgres.backup", "postgres.verify", "postgres.restore"):
            return ()
        return resources.missing(settings, env, action, params)
