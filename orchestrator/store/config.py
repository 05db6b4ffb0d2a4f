"""The `store:` configuration section."""

from __future__ import annotations

from pydantic import SecretStr

from orchestrator.core.config import Section


class StoreConfig(Section):
    """`url` None means SQLite (WAL) at `<data_dir>/fluxora.sqlite`; else a SQLAlchemy URL
    (`postgresql://...` or `sqlite:///path`). The URL may hold a password: never log it."""

    url: SecretStr | None = None
