"""The built-in families, each declared exactly as an extension would be (`Family`); add one
by listing it in FAMILIES. Their order is the order of their hooks in every run."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.app.config import Config
from orchestrator.core import children
from orchestrator.core.actions import ActionRegistry
from orchestrator.core.errors import FluxoraError
from orchestrator.core.hooks import RunHook
from orchestrator.core.leftovers import Sweeper
from orchestrator.families.aws.family import AwsFamily
from orchestrator.families.backup.family import BackupFamily
from orchestrator.families.base import Family, HookDeps, ResourceDeps
from orchestrator.families.basic.family import BasicFamily
from orchestrator.families.drills.family import DrillsFamily
from orchestrator.families.postgres.family import PostgresFamily
from orchestrator.families.releases.family import ReleasesFamily
from orchestrator.families.scaling.family import ScalingFamily
from orchestrator.families.security.family import SecurityFamily
from orchestrator.store.schema import TableDefiner


class SweeperClashError(FluxoraError, ValueError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"two families sweep leftover kind {kind!r}")


FAMILIES: tuple[Family[Config], ...] = (
    AwsFamily(),
    ScalingFamily(),
    BasicFamily(),
    BackupFamily(),
    DrillsFamily(),
    PostgresFamily(),
    SecurityFamily(),
    ReleasesFamily(),
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


def configured_names(config: Config) -> dict[str, Mapping[str, list[str]]]:
    """Every family's configured names by kind (`databases`, `scaling_groups`) and env."""
    found: dict[str, Mapping[str, list[str]]] = {}
    for family in FAMILIES:
        for kind, envs in family.configured_names(config).items():
            if kind in found:
                raise FluxoraError(f"family {family.name}: configured names {kind!r} clash")
            found[kind] = envs
    return found


def sweepers(deps: ResourceDeps[Config]) -> dict[str, Sweeper]:
    """Every leftover kind's sweeper: child processes and scratch paths, then the families'."""
    found: dict[str, Sweeper] = {children.PROCESS: children.sweep_process,
                                 children.PATH: children.sweep_path}  # fmt: skip
    for family in FAMILIES:
        for kind, sweeper in family.build_sweepers(deps).items():
            if kind in found:
                raise SweeperClashError(kind)
            found[kind] = sweeper
    return found
