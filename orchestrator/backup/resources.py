"""From config to the resources the postgres actions use (`ActionContext.resources`):
`objectstore`, `dr_objectstore` (when a DR bucket is configured), `databases` and `backup`.
The daemon builds them through the postgres action family (`actions/postgres.py`); the CLI's
in-process path and the tests call `build_resources(config)` directly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.backup.config import BackupConfig, DatabaseConfig, ServerConfig
from orchestrator.errors import FluxoraError
from orchestrator.objectstore.config import build_dr_store, build_object_store

if TYPE_CHECKING:
    from orchestrator.config import Config


class UnknownDatabaseError(FluxoraError, LookupError):
    def __init__(self, env: str, name: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none; add them under databases." + env
        super().__init__(f"no database {name!r} configured for environment {env!r} ({listed})")


@dataclass(frozen=True)
class Databases:
    """The configured databases of every environment (env -> name -> settings)."""

    by_env: Mapping[str, Mapping[str, DatabaseConfig]]

    def get(self, env: str, name: str) -> DatabaseConfig:
        known = self.by_env.get(env, {})
        try:
            return known[name]
        except KeyError:
            raise UnknownDatabaseError(env, name, sorted(known)) from None

    def names(self, env: str) -> list[str]:
        return sorted(self.by_env.get(env, {}))

    def production(self) -> list[tuple[str, ServerConfig]]:
        return [
            (f"{env}/{name}", db)
            for env, dbs in sorted(self.by_env.items())
            for name, db in sorted(dbs.items())
            if db.production
        ]


@dataclass(frozen=True)
class BackupSettings:
    config: BackupConfig
    scratch_dir: Path

    def restore_target(self, env: str, source: DatabaseConfig) -> ServerConfig:
        """The server scratch databases go to: configured per environment, else the source's."""
        return self.config.restore_targets.get(env) or ServerConfig(
            **source.model_dump(exclude={"dbname", "production"})
        )


def build_resources(config: Config) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "objectstore": build_object_store(config.objectstore, config.data_dir),
        "databases": Databases(config.databases),
        "backup": BackupSettings(
            config.backup, config.backup.scratch_dir or config.data_dir / "scratch"
        ),
    }
    dr_store = build_dr_store(config.objectstore)
    if dr_store is not None:
        resources["dr_objectstore"] = dr_store
    return resources
