"""Databases with data to back up, and configs that point the orchestrator at them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS, Config, load_config
from orchestrator.app.local import Local
from orchestrator.core.actions import ActionContext
from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from tests.harness.postgres import SOCKET_DIR, PgCluster

SAMPLE_SCHEMA = """
CREATE TABLE meters (id int PRIMARY KEY, site text NOT NULL, installed date, meta jsonb);
CREATE TABLE readings (
    meter_id int REFERENCES meters(id), at timestamptz, kwh double precision,
    quality numeric(5,2), raw bytea, note text,
    PRIMARY KEY (meter_id, at));
CREATE SCHEMA audit;
CREATE TABLE audit."Odd Name" (v interval, flag boolean);
INSERT INTO meters SELECT i, 'site-' || (i % 7), date '2020-01-01' + i,
    jsonb_build_object('i', i) FROM generate_series(1, 50) i;
INSERT INTO readings SELECT m, timestamptz '2024-01-01 00:00+00' + n * interval '15 minutes',
    random() * 10, (random() * 100)::numeric(5,2), decode(md5(n::text), 'hex'),
    CASE WHEN n % 5 = 0 THEN NULL ELSE 'ok' END
    FROM generate_series(1, 50) m, generate_series(1, 200) n;
INSERT INTO audit."Odd Name" VALUES ('1 day 2 hours', true), (NULL, false);
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE moods (m mood, seen oid);
INSERT INTO moods VALUES ('calm', 1), ('busy', 2), (NULL, NULL);
"""


@contextmanager
def scratch_database(cluster: PgCluster, sql: str = SAMPLE_SCHEMA) -> Iterator[str]:
    """A uniquely named database on `cluster` filled by `sql`; dropped afterwards."""
    name = f"fxt_db_{uuid.uuid4().hex[:10]}"
    cluster.psql(f"CREATE DATABASE {name}")
    try:
        if sql:
            cluster.psql(sql, dbname=name)
        yield name
    finally:
        cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_entry(cluster: PgCluster, dbname: str, **extra: Any) -> dict[str, Any]:
    return {"host": SOCKET_DIR, "port": cluster.port, "dbname": dbname, "user": "postgres", **extra}


def write_config(
    path: Path,
    data_dir: Path,
    databases: dict[str, dict[str, Any]],
    *,
    objectstore: dict[str, Any] | None = None,
    backup: dict[str, Any] | None = None,
) -> Path:
    document: dict[str, Any] = {"data_dir": str(data_dir), "databases": {"dev": databases}}
    if objectstore:
        document["objectstore"] = objectstore
    if backup:
        document["backup"] = backup
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def scheduled_backups(
    databases: dict[str, dict[str, Any]], *, every: str, verify_every: str | None = None
) -> dict[str, Any]:
    """Daemon config (top-level keys) for `databases` in dev, with the shipped backup rules (the
    embedded defaults') and runbooks (dr_runbooks/), and a logical backup and restore-verify
    schedule per database: `every` and `verify_every` (default: the same) are durations."""
    rules = yaml.safe_load(EMBEDDED_DEFAULTS.read_text(encoding="utf-8"))["rules"]
    schedules = []
    for name in sorted(databases):
        data = {"database": name, "kind": "logical"}
        schedules += [
            {"name": f"backup-{name}-logical", "interval": every, "data": data},
            {"name": f"restore-verify-{name}", "interval": verify_every or every, "data": data},
        ]
    return {
        "env": "dev",
        "databases": {"dev": databases},
        "rules": rules,
        "schedules": schedules,
        "runbooks_dir": str(default_runbooks_dir()),
    }


def context_for(config: Config, **kwargs: Any) -> ActionContext:
    return ActionContext(env=config.env, resources=Local(config).resources(config.env), **kwargs)


def load(path: Path) -> Config:
    return load_config(config_file=path, environ={})
