"""Configuration of databases (`databases:`) and backups (`backup:`) in the config file.

Passwords never appear in the file: a database names the environment variable or the file that
holds its password (`ServerConfig`, the PostgreSQL family's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field

from orchestrator.core.config import Section
from orchestrator.families.postgres.client import ServerConfig
from orchestrator.objectstore.config import ObjectStoreConfig


class DatabaseConfig(ServerConfig):
    dbname: str
    production: bool = False  # restore-verify never restores into a production server


class RetentionConfig(Section):
    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)
    min_count: int = Field(default=3, ge=1)


class ArchiveDestination(Section):
    """A barman-cloud destination: `s3://bucket/prefix`, its region and (tests, other clouds)
    endpoint; by default the endpoint is AWS_ENDPOINT_URL, which barman's own boto ignores."""

    url: str = Field(pattern=r"^s3://[^/]+(/.*)?$")
    region: str | None = None
    endpoint_url: str | None = None


class PitrConfig(Section):
    """Point-in-time recovery with barman-cloud for one database's cluster (`database`): its
    WAL archive (written by fluxora-wal-archive), base backups and restores into new nodes."""

    database: str = Field(min_length=1)
    server_name: str = Field(min_length=1)
    archive: ArchiveDestination
    dr_archive: ArchiveDestination | None = None
    barman_bin_dir: Path = Path("/usr/bin")
    aws_credentials_file: Path | None = None
    run_as: str | None = "postgres"  # barman-cloud-backup reads the data directory
    recovery_window_days: int = Field(default=7, ge=1)
    min_base_backups: int = Field(default=2, ge=1)
    restore_dir: Path = Path("/var/lib/postgresql/fluxora-restores")
    restore_timeout_seconds: float = Field(default=3600, gt=0)
    # Restores (pitr-restore, restore-verify's point-in-time proof) make a PostgreSQL node on
    # this daemon's host. False where this host runs no PostgreSQL (staging's and prod's ops
    # hosts): they are refused, and restore-verify's proof is skipped saying so.
    local_restores: bool = True
    # The Patroni cluster (postgres_clusters.<env>.<name>) whose current leader takes the base
    # backups: barman-cloud-backup reads the data directory, so it runs on the leader's host
    # (through its Salt minion when the node names one). None: the database's server, here.
    cluster: str | None = None
    # The master's salt CLI that dispatches to a minion (`salt MINION fluxora.base_backup`).
    salt_command: list[str] = Field(default_factory=lambda: ["salt"], min_length=1)


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
    # Per environment: WAL archive, base backups and point-in-time restores (barman-cloud).
    pitr: dict[str, PitrConfig] = Field(default_factory=dict)


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
    def rules_source(self) -> str: ...

    @property
    def objectstore(self) -> ObjectStoreConfig: ...
