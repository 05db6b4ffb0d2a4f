"""The store behind one interface (`base.Store`): SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orchestrator.core.errors import ConfigError
from orchestrator.store.schema import TableDefiner, build_metadata
from orchestrator.store.sql import SqlStore

SQLITE_FILE = "fluxora.sqlite"


def open_store(
    url: str | None, data_dir: Path, family_tables: Iterable[TableDefiner] = ()
) -> SqlStore:
    """The store `url` names (not yet migrated): None is SQLite in `data_dir`. It is the
    engine's `Store` and the families' `FamilyTables` at once."""
    from orchestrator.store.postgres import PostgresStore
    from orchestrator.store.sqlite import SqliteStore

    metadata = build_metadata(family_tables)
    if url is None:
        return SqliteStore(data_dir / SQLITE_FILE, metadata)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("config", "store.url", "not a database URL") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return PostgresStore(url, metadata)
    if backend == "sqlite" and parsed.database:
        return SqliteStore(Path(parsed.database), metadata)
    reason = f"unsupported store {backend!r} (use postgresql://... or sqlite:///PATH)"
    raise ConfigError("config", "store.url", reason)
