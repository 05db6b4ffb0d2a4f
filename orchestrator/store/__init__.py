"""The store behind one interface (`base.Store`): SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orchestrator.config import Config
from orchestrator.errors import ConfigError
from orchestrator.store.base import Store
from orchestrator.store.schema import TableDefiner, build_metadata

SQLITE_FILE = "fluxora.sqlite"


def open_store(config: Config, family_tables: Iterable[TableDefiner] = ()) -> Store:
    """The store the config names (not yet migrated): `store.url`, else SQLite in data_dir."""
    from orchestrator.store.postgres import PostgresStore
    from orchestrator.store.sqlite import SqliteStore

    metadata = build_metadata(family_tables)
    if config.store.url is None:
        return SqliteStore(config.data_dir / SQLITE_FILE, metadata)
    raw = config.store.url.get_secret_value()
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("config", "store.url", "not a database URL") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return PostgresStore(raw, metadata)
    if backend == "sqlite" and url.database:
        return SqliteStore(Path(url.database), metadata)
    reason = f"unsupported store {backend!r} (use postgresql://... or sqlite:///PATH)"
    raise ConfigError("config", "store.url", reason)
