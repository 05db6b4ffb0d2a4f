"""The family contract: how a family (backup, PostgreSQL failover, drills, scaling, ...)
declares itself to the composition roots in `orchestrator.app`, exactly as an extension would.

A family is an object with a `name` and the methods below; each has a default that adds nothing,
so a family overrides only what it brings:
- `register(registry)`: its actions (`registry.register("postgres.backup", Params, "...")`);
- `define_tables(metadata)`: its own tables in the store (SQLAlchemy Core);
- `build_resources(deps, env)`: the services its actions reach with `ctx.resource(KEY)`, each
  under a typed key the family declares (`core.resources.ResourceKey`);
- `build_hooks(deps)`: executor hooks (metrics from step outputs, drill records);
- `build_sweepers(deps)`: per leftover kind its actions record (`ctx.leftovers`), how a job
  worker removes what a dead one left (child processes and scratch paths are swept by the
  worker itself);
- `missing(settings, env, action, params)`: the config keys an action call needs in an env
  that are not set (`fluxora-orch validate` asks it for every runbook a schedule or rule starts).

A family reads the config through a protocol of its own (`Family[ItsSettings]`): the settings
it names, which the daemon's `Config` has. The deps carry what the process built once: the
store (also as `FamilyTables`) and its runner, the object stores, the metrics registry and the
loaded definitions; a family opens no store or object store of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import RunHook
from orchestrator.core.jobs import ScheduledRun
from orchestrator.core.leftovers import Sweeper
from orchestrator.core.resources import Resources
from orchestrator.engine.definitions import Definitions
from orchestrator.objectstore.config import ObjectStores
from orchestrator.store.base import Store
from orchestrator.store.runner import StoreRunner
from orchestrator.store.schema import FamilyTables

C_co = TypeVar("C_co", covariant=True)
Settings_contra = TypeVar("Settings_contra", contravariant=True)


@dataclass(frozen=True, kw_only=True)
class ResourceDeps(Generic[C_co]):
    """What a resource builder gets: the config and what the process opened once. Actions
    call the store from their worker threads (`store`, `tables`: one object)."""

    config: C_co
    store: Store
    tables: FamilyTables
    objectstores: ObjectStores


@dataclass(frozen=True, kw_only=True)
class HookDeps(ResourceDeps[C_co]):
    """What a hook builder gets besides: the store runner (hooks run on the event loop: their
    store calls go through it), the process's metrics registry (declare the family's metrics
    on it once), the loaded runbooks, rules and schedules, and what the schedules run."""

    runner: StoreRunner
    registry: CollectorRegistry
    definitions: Definitions
    scheduled: Sequence[ScheduledRun]
    """What each schedule runs, as the rules decide it (`engine.definitions.scheduled_runs`)."""


class Family(Protocol[Settings_contra]):
    name: str

    def register(self, registry: ActionRegistry) -> None:
        return None

    def define_tables(self, metadata: MetaData) -> None:
        return None

    def build_resources(self, deps: ResourceDeps[Settings_contra], env: str) -> Resources:
        return Resources()

    def build_hooks(self, deps: HookDeps[Settings_contra]) -> Sequence[RunHook]:
        return ()

    def configured_names(self, config: Settings_contra) -> Mapping[str, Mapping[str, list[str]]]:
        """Kind (`databases`) -> env -> the names configured there: what a runbook parameter
        declared `configured: <kind>` may name."""
        return {}

    def build_sweepers(self, deps: ResourceDeps[Settings_contra]) -> Mapping[str, Sweeper]:
        return {}

    def missing(
        self, settings: Settings_contra, env: str, action: str, params: Mapping[str, Any]
    ) -> Sequence[str]:
        """The config keys (dotted) that `action` called with `params` (those known before
        the run) needs in `env` and that `settings` lacks."""
        return ()
