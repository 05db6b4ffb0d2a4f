"""The built-in families, each declared exactly as an extension would be (`Family`); add one
by listing it in FAMILIES. Their order is the order of their hooks in every run."""

from __future__ import annotations

from orchestrator.app.config import Config
from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.families.aws.family import AwsFamily
from orchestrator.families.backup.family import BackupFamily
from orchestrator.families.base import Family, HookDeps
from orchestrator.families.basic.family import BasicFamily
from orchestrator.families.drills.family import DrillsFamily
from orchestrator.families.postgres.family import PostgresFamily
from orchestrator.families.scaling.family import ScalingFamily
from orchestrator.families.security.family import SecurityFamily
from orchestrator.store.schema import TableDefiner

FAMILIES: tuple[Family[Config], ...] = (
    AwsFamily(),
    ScalingFamily(),
    BasicFamily(),
    BackupFamily(),
    DrillsFamily(),
    PostgresFamily(),
    SecurityFamily(),
)


def builtin_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for family in FAMILIES:
        family.register(registry)
    return registry


def family_tables() -> list[TableDefiner]:
    return [family.define_tables for family in FAMILIES]


def family_hooks(deps: HookDeps[Config]) -> list[RunHook]:
    return [hook for family in FAMILIES for hook in family.build_hooks(deps)]
