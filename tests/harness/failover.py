"""A primary/replica pair described as a `postgres_clusters:` topology with a service-file
endpoint, and action contexts that run the failover actions on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.actions import dr_postgres
from orchestrator.config import Config, load_config
from orchestrator.core.actions import ActionContext
from orchestrator.dr.postgres import endpoint
from tests.harness.postgres import SOCKET_DIR, PgCluster, PgPair

CLUSTER = "main"
SERVICE = "fluxora-main"


def node_entry(cluster: PgCluster) -> dict[str, Any]:
    return {
        "host": SOCKET_DIR,
        "port": cluster.port,
        "cluster": f"{cluster.version}/{cluster.name}",
        "data_dir": str(cluster.data_dir),
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


def context(config: Config, job_id: str = "test-job", **kwargs: Any) -> ActionContext:
    return ActionContext(
        env=config.env,
        job_id=job_id,
        resources=dr_postgres.build_resources(config, config.env),
        **kwargs,
    )
