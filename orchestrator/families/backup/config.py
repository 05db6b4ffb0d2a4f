"""Configuration of databases (`databases:`) and backups (`backup:`) in the config file.

Passwords never appear in the file: a database names the environment variable or the file that
holds its password (`ServerConfig`, the PostgreSQL family's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from orchestrator.core.config import Section
from orchestrator.families.postgres.client import ServerConfig


class DatabaseConfig(ServerConfig):
    dbname: str
    production: bool = False  # restore-verify never restores into a production server


class RetentionConfig(Section):
    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)
    min_count: int = Field(default=3, ge=1)


class BackupConfig(Section):
    retention: RetentionConfig = RetentionConfig()
    compression_level: int = Field(default=3, ge=1, le=19)
    restore_jobs: int = Field(default=2, ge=1, le=64)
    orphan_grace_seconds: float = Field(default=6 * 3600, ge=0)
    pg_bin_dir: Path | None = None  # default: the PostgreSQL client programs on PATH
    scratch_dir: Path | None = None  # default: <data_dir>/scratch
    # Per environment, the server that restore-verify creates scratch databases on; by default
    # the source's own server (refused when the source is production).
    restore_targets: dict[str, ServerConfig] = Field(default_factory=dict)


class BackupFamilyConfig(Protocol):
    """What the backup family reads from the daemon's config."""

    @property
    def env(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def databases(self) -> dict[str, dict[str, DatabaseConfig]]: ...

    @property
    def backup(self) -> BackupConfig: ...

    @property
    def rules(self) -> list[dict[str, Any]]: ...

    @property
    def schedules(self) -> list[dict[str, Any]]: ...

    @property
    def rules_source(self) -> str: ...
