"""The one PostgreSQL client of the orchestrator: how a server is reached (`ServerConfig`, the
password from a variable or a file, never from the config itself), connections with the settings
every caller needs, and the libpq environment for the client programs (pg_dump, pg_rewind...).
Backups and failover alike connect through here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import psycopg
from pydantic import Field, model_validator

from orchestrator.core.config import Section
from orchestrator.core.errors import FluxoraError


class PasswordUnavailableError(FluxoraError):
    pass


def read_password(variable: str | None, path: Path | None) -> str | None:
    """A password from an environment variable or a file; None when neither is named."""
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise PasswordUnavailableError(f"password variable {variable} is not set")
        return value
    if path:
        try:
            return path.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise PasswordUnavailableError(f"password file {path}: {exc.strerror or exc}") from exc
    return None


class ServerConfig(Section):
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
        return read_password(self.password_env, self.password_file)

    def address(self) -> str:
        return f"{self.host}:{self.port}"


class DatabaseUnavailableError(FluxoraError):
    """The database cannot be reached or refused us; the message says which and why."""


# The text form of a row depends on these settings; both sides of a comparison pin them.


def libpq_env(server: ServerConfig, dbname: str) -> dict[str, str]:
    """PG* variables for a client program (the password stays out of its argv)."""
    env = {
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": server.user,
        "PGDATABASE": dbname,
        "PGCONNECT_TIMEOUT": str(server.connect_timeout_seconds),
        "PGAPPNAME": "fluxora-orch",
    }
    password = server.password()
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def describe(server: ServerConfig, dbname: str) -> str:
    return f"{server.user}@{server.host}:{server.port}/{dbname}"


@contextmanager
def connect(
    server: ServerConfig, dbname: str, *, autocommit: bool = True
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    try:
        conn = psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password(),
            dbname=dbname,
            connect_timeout=server.connect_timeout_seconds,
            application_name="fluxora-orch",
            autocommit=autocommit,
            # In a SQL_ASCII database psycopg would return text as bytes (snapshot ids,
            # names); UTF-8 makes it str there and changes nothing elsewhere.
            client_encoding="utf8",
        )
    except PasswordUnavailableError as exc:
        raise DatabaseUnavailableError(f"{describe(server, dbname)}: {exc}") from exc
    except psycopg.OperationalError as exc:
        reason = _reason(exc)
        raise DatabaseUnavailableError(
            f"cannot connect to {describe(server, dbname)}: {reason}"
        ) from exc
    with conn:
        yield conn


def _reason(exc: psycopg.OperationalError) -> str:
    """libpq's own reason (`... failed: Connection refused`), without its indented hints."""
    lines = [line for line in str(exc).strip().splitlines() if line and not line[0].isspace()]
    return lines[-1] if lines else type(exc).__name__
