"""Clusters described as a `postgres_clusters:` topology (a Patroni cluster with a multi-host
service-file endpoint; a plain primary/replica pair for the Route53 and region tests), and
action contexts and runners that run the shipped runbooks on them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import yaml

from orchestrator.app.config import Config, load_config
from orchestrator.app.families import builtin_registry
from orchestrator.app.local import Local
from orchestrator.core.actions import ActionContext
from orchestrator.core.hooks import Run
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal
from orchestrator.core.resources import Resources
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.probe import WriteProbe
from tests.harness.patroni import PatroniCluster, cluster_entry
from tests.harness.postgres import SOCKET_DIR, PgCluster, PgPair

CLUSTER = "main"
SERVICE = "fluxora-main"


def node_entry(cluster: PgCluster) -> dict[str, Any]:
    return {
        "host": SOCKET_DIR,
        "port": cluster.port,
        "connect_timeout_seconds": 2,
    }


def topology(pair: PgPair, service_file: Path, env: str = "dev") -> dict[str, Any]:
    """The pair as cluster `main`: node `a` (home, the primary) and node `b` (the replica)."""
    cluster = {
        "home": "a",
        "nodes": {"a": node_entry(pair.primary), "b": node_entry(pair.replica)},
        "endpoint": {"kind": "service_file", "path": str(service_file), "service": SERVICE},
    }
    return {env: {CLUSTER: cluster}}


def config_for(pair: PgPair, data_dir: Path, **extra: Any) -> Config:
    """A config with the pair's topology, its endpoint pointing at the primary."""
    document = {
        "data_dir": str(data_dir),
        "postgres_clusters": topology(pair, data_dir / "pg_service.conf"),
    }
    document.update(extra)
    path = data_dir / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    config = load_config(config_file=path, environ={})
    endpoint.repoint(config.postgres_clusters["dev"][CLUSTER], "a", None)
    return config


def patroni_config(cluster: PatroniCluster, data_dir: Path, **extra: Any) -> Config:
    """A config with the Patroni cluster as `main` (home: its leader now), the endpoint's
    multi-host section written."""
    entry = cluster_entry(cluster, data_dir / "pg_service.conf")
    entry["home"] = cluster.wait_leader(60)
    document = {"data_dir": str(data_dir), "postgres_clusters": {"dev": {CLUSTER: entry}}}
    document.update(extra)
    path = data_dir / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    config = load_config(config_file=path, environ={})
    endpoint.follow(config.postgres_clusters["dev"][CLUSTER], entry["home"], None)
    return config


def resources(config: Config, env: str = "dev") -> Resources:
    """What the daemon gives actions in `env`: every family's resources."""
    return Local(config).resources(env)


def run_runbook(
    name: str,
    env: str,
    params: dict[str, Any],
    given: Resources,
    *,
    dry_run: bool = False,
    spec: RunbookSpec | None = None,
    job: Job | None = None,
) -> Journal:
    """The shipped runbook `name` (or `spec`) through the executor's runner, real actions, as
    `job` (default: a new job that is in no store)."""
    registry = builtin_registry()
    spec = spec or load_catalog(default_runbooks_dir(), registry).get(name)
    job = job or Job(runbook=name, env=env, params=params, dry_run=dry_run)
    context = ActionContext(env=env, job_id=job.id, resources=given, dry_run=dry_run)
    run = Run(job=job, runbook=spec, journal=Journal.start(job), context=context)

    async def save(journal: Journal) -> None:
        return None

    deps = RunnerDeps(registry=registry, threads=ActionThreads(), save=save,
                      stopping=lambda: False)  # fmt: skip
    return asyncio.run(RunbookRunner(run, deps).execute())


def step_output(journal: Journal, name: str) -> dict[str, Any]:
    (record,) = [s for s in (*journal.steps, *journal.rollbacks) if s.name == name]
    return dict(record.output)


def service_probe(probe_id: str, interval: float = 0.05) -> WriteProbe:
    """A client's write probe: libpq resolves `service=fluxora-main` from PGSERVICEFILE on
    every (re)connect, as any application would."""

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(f"service={SERVICE} user=postgres connect_timeout=2",
                               autocommit=True)  # fmt: skip

    return WriteProbe(probe_id, connect, interval=interval)
