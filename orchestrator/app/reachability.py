"""What the daemon checks at start: every configured database, PostgreSQL node, object store
and the Salt master's bus it will need, each tried once with a short timeout. One it cannot
reach is a warning naming it, why, and which setting (from which source) to fix; the daemon
keeps running either way: the thing may come up later, and the jobs that need it fail with
their own message meanwhile."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from orchestrator.app.config import Config
from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.engine.sources.salt import master_opts
from orchestrator.families.postgres.client import ServerConfig, connect, describe
from orchestrator.objectstore.base import ObjectStore
from orchestrator.objectstore.config import (
    ObjectStoreConfig,
    RetryConfig,
    build_dr_store,
    build_object_store,
)

log = get_logger(__name__)

PROBE_SECONDS = 3  # per target: a start-up check, not a health check
PROBE_THREADS = 8


@dataclass(frozen=True, kw_only=True)
class Target:
    what: str  # "database dev/fluxora (postgres@/var/run/postgresql:5433/fluxora)"
    key: str  # the config key that names it: "databases.dev.fluxora"
    fix: str  # what to do when it cannot be reached
    probe: Callable[[], None]  # raises when it cannot be reached


@dataclass(frozen=True, kw_only=True)
class Unreachable:
    target: Target
    reason: str


def _database(server: ServerConfig, dbname: str) -> Callable[[], None]:
    quick = server.model_copy(
        update={"connect_timeout_seconds": min(server.connect_timeout_seconds, PROBE_SECONDS)}
    )

    def probe() -> None:
        with connect(quick, dbname):
            pass

    return probe


def database_targets(config: Config) -> list[Target]:
    """Every database under `databases`, every node of `postgres_clusters`, every
    `backup.restore_targets` server."""
    found = []
    for env, databases in sorted(config.databases.items()):
        for name, db in sorted(databases.items()):
            found.append(
                Target(
                    what=f"database {env}/{name} ({describe(db, db.dbname)})",
                    key=f"databases.{env}.{name}",
                    fix="start it, or correct the setting",
                    probe=_database(db, db.dbname),
                )
            )
    for env, clusters in sorted(config.postgres_clusters.items()):
        for cluster_name, cluster in sorted(clusters.items()):
            for node_name, node in sorted(cluster.nodes.items()):
                found.append(
                    Target(
                        what=f"PostgreSQL node {env}/{cluster_name}/{node_name} "
                        f"({describe(node, cluster.dbname)})",
                        key=f"postgres_clusters.{env}.{cluster_name}.nodes.{node_name}",
                        fix="start it (a failover needs every node), or correct the setting",
                        probe=_database(node, cluster.dbname),
                    )
                )
    for env, server in sorted(config.backup.restore_targets.items()):
        found.append(
            Target(
                what=f"restore-verify server of {env} ({describe(server, 'postgres')})",
                key=f"backup.restore_targets.{env}",
                fix="start it, or correct the setting",
                probe=_database(server, "postgres"),
            )
        )
    return found


def _writable_directory(path: Path) -> Callable[[], None]:
    def probe() -> None:
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise FluxoraError(f"{existing} is not a directory this user can write")

    return probe


def _bucket(build: Callable[[], ObjectStore | None]) -> Callable[[], None]:
    def probe() -> None:
        store = build()
        if store is not None:
            next(iter(store.list_objects("")), None)

    return probe


def objectstore_targets(config: Config) -> list[Target]:
    """The primary object store and the DR bucket, each listed once (no retries)."""
    settings: ObjectStoreConfig = config.objectstore.model_copy(
        update={"retry": RetryConfig(attempts=1)}
    )
    fix = "check the bucket, the credentials and the endpoint, or correct the setting"
    if settings.kind == "local":
        path = settings.path or config.data_dir / "objects"
        primary = Target(
            what=f"object store (directory {path})",
            key="objectstore.path",
            fix="create it or give the daemon's user write access, or correct the setting",
            probe=_writable_directory(path),
        )
    else:
        primary = Target(
            what=f"object store (bucket {settings.bucket})",
            key="objectstore.bucket",
            fix=fix,
            probe=_bucket(lambda: build_object_store(settings, config.data_dir)),
        )
    found = [primary]
    if settings.dr is not None:
        found.append(
            Target(
                what=f"DR object store (bucket {settings.dr.bucket} in {settings.dr.region})",
                key="objectstore.dr",
                fix=fix,
                probe=_bucket(lambda: build_dr_store(settings)),
            )
        )
    return found


def _master_bus(master_config: Path) -> Callable[[], None]:
    def probe() -> None:
        pull = Path(master_opts(master_config)["sock_dir"]) / "master_event_pull.ipc"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_SECONDS)
            sock.connect(str(pull))

    return probe


def salt_targets(config: Config) -> list[Target]:
    """The Salt master's event bus, when the daemon is configured to listen to one."""
    master_config = config.salt.master_config
    if master_config is None:
        return []
    return [
        Target(
            what=f"Salt master event bus (master config {master_config})",
            key="salt.master_config",
            fix="start the salt-master (no Salt events arrive meanwhile), or correct the setting",
            probe=_master_bus(master_config),
        )
    ]


def _try(target: Target) -> Unreachable | None:
    try:
        target.probe()
    except Exception as exc:  # any failure is the warning's reason; the daemon goes on
        return Unreachable(target=target, reason=str(exc) or type(exc).__name__)
    return None


def unreachable(config: Config) -> tuple[int, list[Unreachable]]:
    """How many targets were tried, and the ones that could not be reached."""
    targets = [*database_targets(config), *objectstore_targets(config), *salt_targets(config)]
    with ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="reachability") as pool:
        results = list(pool.map(_try, targets))
    return len(targets), [r for r in results if r is not None]


def warn_unreachable(config: Config) -> None:
    """Log a warning for every configured target the daemon cannot reach now."""
    tried, failed = unreachable(config)
    for item in failed:
        target = item.target
        source = config.source_of(target.key)
        log.warning(
            f"cannot reach {target.what}: {item.reason}; {target.fix} ({target.key} in {source})",
            target=target.key,
            source=source,
        )
    if not failed:
        log.info("every configured database, object store and Salt bus answered", checked=tried)
