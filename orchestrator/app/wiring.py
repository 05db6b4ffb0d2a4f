"""What every process of the orchestrator (the intake, its job worker, the CLI) builds from its
config the same way: the store with the families' tables, the object stores, the loaded
runbooks, rules and schedules, and the deps the families' builders get."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry, configured_names, family_tables
from orchestrator.core.errors import ConfigError
from orchestrator.core.events import Event, EventRecord, utcnow
from orchestrator.core.jobs import ScheduledRun
from orchestrator.engine.api.views import explain_view
from orchestrator.engine.definitions import Definitions, load_definitions
from orchestrator.engine.definitions import scheduled_runs as engine_scheduled_runs
from orchestrator.engine.rules import tester
from orchestrator.engine.rules.engine import RuleEngine
from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.families.base import HookDeps, ResourceDeps
from orchestrator.objectstore.config import ObjectStores
from orchestrator.store import open_store
from orchestrator.store.runner import StoreRunner
from orchestrator.store.sql import SqlStore


def open_configured_store(config: Config) -> SqlStore:
    """The store the config names, with every family's tables (not yet migrated)."""
    url = config.store.url.get_secret_value() if config.store.url else None
    return open_store(url, config.data_dir, family_tables())


def object_stores(config: Config) -> ObjectStores:
    return ObjectStores(config.objectstore, config.data_dir)


def runbooks_dir(config: Config) -> Path:
    return config.runbooks_dir or default_runbooks_dir()


def definitions(config: Config) -> Definitions:
    loaded = load_definitions(
        runbooks_dir=runbooks_dir(config),
        rules=config.rules,
        schedules=config.schedules,
        source=config.rules_source,
        registry=builtin_registry(),
    )
    _check_configured_kinds(config, loaded)
    return loaded


def _check_configured_kinds(config: Config, loaded: Definitions) -> None:
    """A runbook parameter's `configured:` names a kind some family configures."""
    kinds = configured_names(config)
    for runbook in loaded.runbooks:
        for name, spec in runbook.parameters.items():
            if spec.configured is not None and spec.configured not in kinds:
                raise ConfigError(
                    str(runbooks_dir(config) / f"{runbook.name}.yaml"),
                    f"parameters.{name}.configured",
                    f"no family configures {spec.configured!r} (known: {', '.join(sorted(kinds))})",
                )


def rule_engine(config: Config, loaded: Definitions) -> RuleEngine:
    """The rules over the runbooks, for this config's env and configured names."""
    return RuleEngine(
        loaded.rules, loaded.runbooks, config.env, configured=configured_names(config)
    )


def scheduled_runs(config: Config, loaded: Definitions) -> list[ScheduledRun]:
    """What each schedule runs, decided once per process (backup and drill metrics use it)."""
    return engine_scheduled_runs(loaded, config.env, utcnow())


def resource_deps(config: Config, store: SqlStore, stores: ObjectStores) -> ResourceDeps[Config]:
    return ResourceDeps(config=config, store=store, tables=store, objectstores=stores)


def hook_deps(
    resources: ResourceDeps[Config],
    runner: StoreRunner,
    registry: CollectorRegistry,
    loaded: Definitions,
    scheduled: Sequence[ScheduledRun],
) -> HookDeps[Config]:
    return HookDeps(
        config=resources.config,
        store=resources.store,
        tables=resources.tables,
        objectstores=resources.objectstores,
        runner=runner,
        registry=registry,
        definitions=loaded,
        scheduled=scheduled,
    )


def explain_offline(config: Config, event: Event) -> dict[str, Any]:
    """Every configured rule's decision about `event` (`explain --event`), stored nowhere."""
    loaded = definitions(config)
    engine = rule_engine(config, loaded)
    record = EventRecord(event=event, processed_at=None)
    return explain_view(record, tester.decide(engine, event))
