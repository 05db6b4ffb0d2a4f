"""Configuration of databases (`databases:`) and backups (`backup:`) in the config file.

Passwords never appear in the file: a database names the environment variable or the file that
holds its password.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.errors import FluxoraError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PasswordUnavailableError(FluxoraError):
    pass


class ServerConfig(_Section):
    """How to reach a PostgreSQL server: `host` is a name, an address or a socket directory."""

    host: str = "/var/run/postgresql"
    port: int = Field(default=5432, gt=0, lt=65536)
    user: str = "postgres"
    password_env: str | None = None
    password_file: Path | None = None
    connect_timeout_seconds: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _one_password_source(self) -> Self:
        if self.password_env and self.password_file:
            raise ValueError("set password_env or password_file, not both")
        return self

    def password(self) -> str | None:
        """The password from its variable or file; None when neither is configured."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise PasswordUnavailableError(f"password variable {self.password_env} is not set")
            return value
        if self.password_file:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise PasswordUnavailableError(
                    f"password file {self.password_file}: {exc.strerror or exc}"
                ) from exc
        return None

    def address(self) -> str:
        return f"{self.host}:{self.port}"


class DatabaseConfig(ServerConfig):
    dbname: str
    production: bool = False  # restore-verify never restores into a production server


class RetentionConfig(_Section):
    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)
    min_count: int = Field(default=3, ge=1)


class BackupConfig(_Section):
    retention: RetentionConfig = RetentionConfig()
    compression_level: int = Field(default=3, ge=1, le=19)
    restore_jobs: int = Field(default=2, ge=1, le=64)
    orphan_grace_seconds: float = Field(default=6 * 3600, ge=0)
    pg_bin_dir: Path | None = None  # default: the PostgreSQL client programs on PATH
    scratch_dir: Path | None = None  # default: <data_dir>/scratch
    # Per environment, the server that restore-verify creates scratch databases on; by default
    # the source's own server (refused when the source is production).
    restore_targets: dict[str, ServerConfig] = Field(default_factory=dict)
