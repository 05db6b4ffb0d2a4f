"""From config to the resources the postgres actions use (`ActionContext.resources`):
`objectstore`, `dr_objectstore` (when a DR bucket is configured), `databases` and `backup`.
Built from the object stores the process opened once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.backup.config import BackupConfig, BackupFamilyConfig, DatabaseConfig
from orchestrator.families.base import ResourceDeps
from orchestrator.families.postgres.client import ServerConfig


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


def build_resources(deps: ResourceDeps[BackupFamilyConfig]) -> dict[str, Any]:
    config = deps.config
    resources: dict[str, Any] = {
        "objectstore": deps.objectstores.primary(),
        "databases": Databases(config.databases),
        "backup": BackupSettings(
            config.backup, config.backup.scratch_dir or config.data_dir / "scratch"
        ),
    }
    dr_store = deps.objectstores.dr()
    if dr_store is not None:
        resources["dr_objectstore"] = dr_store
    return resources
