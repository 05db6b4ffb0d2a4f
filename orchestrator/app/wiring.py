"""What every process of the orchestrator (the intake, its job worker, the CLI) builds from its
config the same way: the store with the families' tables, the object stores, the loaded
runbooks, rules and schedules, and the deps the families' builders get."""

from __future__ import annotations

from pathlib import Path

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry, family_tables
from orchestrator.engine.definitions import Definitions, load_definitions
from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.families.base import ResourceDeps
from orchestrator.objectstore.config import ObjectStores
from orchestrator.store import open_store
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
    return load_definitions(
        runbooks_dir=runbooks_dir(config),
        rules=config.rules,
        schedules=config.schedules,
        source=config.rules_source,
        registry=builtin_registry(),
    )


def resource_deps(config: Config, store: SqlStore, stores: ObjectStores) -> ResourceDeps[Config]:
    return ResourceDeps(config=config, store=store, tables=store, objectstores=stores)
