"""From config to the resources the backup actions use besides the process's object stores
(`OBJECTSTORE`, `DR_OBJECTSTORE`): `DATABASES` and `BACKUP`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.core.leftovers import Leftover
from orchestrator.core.resources import ResourceKey, Resources
from orchestrator.families.backup.config import BackupConfig, BackupFamilyConfig, DatabaseConfig
from orchestrator.families.backup.restore import drop_scratch_database
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


DATABASES = ResourceKey[Databases]("databases")
BACKUP = ResourceKey[BackupSettings]("backup")


def sweep_scratch_database(config: BackupFamilyConfig, leftover: Leftover) -> str:
    """A restore's scratch database that a dead job worker left, dropped where it was made."""
    env = leftover.data["env"]
    source = Databases(config.databases).get(env, leftover.data["database"])
    target = BackupSettings(config.backup, config.data_dir).restore_target(env, source)
    return drop_scratch_database(target, leftover.data["dbname"])


def build_resources(deps: ResourceDeps[BackupFamilyConfig]) -> Resources:
    config = deps.config
    scratch_dir = config.backup.scratch_dir or config.data_dir / "scratch"
    return (
        Resources()
        .add(DATABASES, Databases(config.databases))
        .add(BACKUP, BackupSettings(config.backup, scratch_dir))
    )


def missing(
    config: BackupFamilyConfig, env: str, action: str, params: Mapping[str, Any]
) -> list[str]:
    """What a backup, verify or restore of `params` needs in `env` that is not configured: the
    database (any, when the call names none), for a restore a target that is no production
    server, and the DR copy of the object store when it reads from there."""
    databases = config.databases.get(env, {})
    name = params.get("database")
    if isinstance(name, str) and name not in databases:
        return [f"databases.{env}.{name}"]
    if not databases:
        return [f"databases.{env}"]
    if action == "postgres.backup":
        return []
    chosen = [databases[name]] if isinstance(name, str) else list(databases.values())
    missing = []
    if env not in config.backup.restore_targets and any(db.production for db in chosen):
        missing.append(f"backup.restore_targets.{env}")
    if params.get("from_dr") is True and config.objectstore.dr is None:
        missing.append("objectstore.dr")
    return missing
