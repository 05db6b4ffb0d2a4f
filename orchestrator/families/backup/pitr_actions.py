"""`postgres.base_backup` and `postgres.pitr_restore`: barman-cloud base backups (with retention)
and point-in-time restores into a new node, for the environment's `backup.pitr.<env>` cluster.

Results carry `env` and `database` like the other backup actions (the metrics label by them)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from pydantic import Field, field_validator

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry, NoParams
from orchestrator.core.errors import FluxoraError
from orchestrator.core.leftovers import Leftover
from orchestrator.core.results import Result
from orchestrator.families.backup import pitr, pitr_leader, pitr_verify
from orchestrator.families.backup.config import BackupFamilyConfig, DatabaseConfig, PitrConfig
from orchestrator.families.backup.pitr import PitrError
from orchestrator.families.backup.resources import BACKUP, DATABASES
from orchestrator.families.postgres import region
from orchestrator.families.postgres.actions import CLUSTERS

BASE_KIND = "base"  # the kind label of these backups in the backup metrics
NODE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


ACTIONS = (
    "postgres.base_backup", "postgres.pitr_restore", "postgres.pitr_verify",
    "postgres.pitr_remove_dr_node",
)  # fmt: skip


def missing(config: BackupFamilyConfig, env: str, params: Mapping[str, Any]) -> list[str]:
    """What these actions need in `env` that is not configured (`fluxora-orch validate`)."""
    settings = config.backup.pitr.get(env)
    if settings is None:
        return [] if params.get("if_configured") is True else [f"backup.pitr.{env}"]
    needed = []
    if settings.database not in config.databases.get(env, {}):
        needed.append(f"databases.{env}.{settings.database}")
    if params.get("from_dr") is True and settings.dr_archive is None:
        needed.append(f"backup.pitr.{env}.dr_archive")
    return needed


class PitrNotConfiguredError(FluxoraError, LookupError):
    def __init__(self, env: str) -> None:
        super().__init__(f"no point-in-time recovery configured for {env!r}: set backup.pitr.{env}")


class RestoreToParams(ActionParams):
    """`to`: an ISO 8601 time with offset, or None for the newest archived WAL."""

    to: datetime | None = None
    from_dr: bool = False  # restore from the DR region's copy of the archive
    node: str | None = Field(default=None, pattern=NODE_NAME)  # default restore-<time>
    port: int | None = Field(default=None, gt=0, lt=65536)  # default a free port
    # Region evacuation: restore into this cluster's DR node (instead of `node` and `port`).
    dr_node_of: str | None = None

    @field_validator("to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its offset (e.g. 2026-12-07T10:41:00+00:00)")
        return value


def settings_for(ctx: ActionContext) -> PitrConfig:
    found = ctx.resource(BACKUP).config.pitr.get(ctx.env)
    if found is None:
        raise PitrNotConfiguredError(ctx.env)
    return found


def check_local_restores(env: str, settings: PitrConfig) -> None:
    if not settings.local_restores:
        raise PitrError(
            f"restores of {settings.server_name} do not run on this daemon's host "
            f"(backup.pitr.{env}.local_restores is false: it runs no PostgreSQL)"
        )


def _cluster(ctx: ActionContext, labels: dict[str, Any]) -> tuple[PitrConfig, DatabaseConfig]:
    """The environment's PITR settings and its database; names the database in `labels`."""
    settings = settings_for(ctx)
    labels["database"] = settings.database
    return settings, ctx.resource(DATABASES).get(ctx.env, settings.database)


def _take(
    ctx: ActionContext, settings: PitrConfig, server: DatabaseConfig, name: str, barman: pitr.Barman
) -> tuple[pitr.BaseBackup, dict[str, Any]]:
    """The base backup, taken where the data directory is: with `settings.cluster`, on the
    Patroni leader (through its minion when it has one), else on the database's server here."""
    if settings.cluster is None:
        return pitr.take_base_backup(barman, server, name), {}
    cluster = ctx.resource(CLUSTERS).get(settings.cluster)
    leader = pitr_leader.find_leader(settings.cluster, cluster)
    if leader.minion is None:
        backup = pitr.take_base_backup(barman, leader.config, name)
    else:
        answer = pitr_leader.dispatch(settings, leader.minion, name, barman.children)
        backup = pitr_leader.stored(barman, answer, leader.minion)
    pitr_leader.check_still_leader(leader, cluster, barman, backup.backup_id)
    where = {"leader": leader.node, "minion": leader.minion, "timeline": leader.timeline}
    return backup, where


def _backup_and_prune(
    ctx: ActionContext, settings: PitrConfig, server: DatabaseConfig, name: str
) -> tuple[pitr.BaseBackup, float, list[str], dict[str, Any]]:
    """The base backup, its duration, what retention deleted in both archives, and where it
    was taken."""
    children = ctx.children()
    barman = pitr.Barman(settings, children=children)
    started = time.monotonic()
    backup, where = _take(ctx, settings, server, name, barman)
    duration = time.monotonic() - started
    deleted = pitr.apply_retention(barman, datetime.now(UTC))
    if settings.dr_archive is not None:
        dr = pitr.Barman(settings, dr=True, children=children)
        pitr.copy_base_backup(barman, dr, backup.backup_id)
        deleted += pitr.apply_retention(dr, datetime.now(UTC))
    return backup, duration, deleted, where


def base_backup(ctx: ActionContext, params: NoParams) -> Result:
    labels: dict[str, Any] = {"env": ctx.env, "database": None, "kind": BASE_KIND}
    try:
        settings, server = _cluster(ctx, labels)
        name = f"base-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        if ctx.dry_run:
            plan = {"barman-cloud-backup": settings.archive.url, "name": name}
            return Result.success(plan={**plan, "on": _planned_on(ctx, settings)})
        backup, duration, deleted, where = _backup_and_prune(ctx, settings, server, name)
        size = pitr.stored_bytes(pitr.Barman(settings, children=ctx.children()), backup.backup_id)
    except (FluxoraError, OSError, ValueError) as exc:
        return Result.failure(f"base backup of {ctx.env} failed: {exc}", **labels)
    ctx.log.info("base backup stored", job_id=ctx.job_id, backup_id=backup.backup_id)
    return Result.success(
        changed=True, backup_id=backup.backup_id, begin_wal=backup.begin_wal,
        finished_at=backup.end_time.timestamp(), duration_seconds=duration,
        stored_bytes=size, deleted=deleted, **where, **labels,
    )  # fmt: skip


def _planned_on(ctx: ActionContext, settings: PitrConfig) -> str:
    """Where the backup would run now (a dry run asks Patroni, and dispatches nothing)."""
    if settings.cluster is None:
        return "this host"
    leader = pitr_leader.find_leader(settings.cluster, ctx.resource(CLUSTERS).get(settings.cluster))
    return leader.describe()


def restore_to(ctx: ActionContext, params: RestoreToParams) -> Result:
    """Restore the cluster into a new node, to `to` or the newest archived WAL."""
    labels: dict[str, Any] = {"env": ctx.env}
    try:
        settings = settings_for(ctx)
        check_local_restores(ctx.env, settings)
        barman = pitr.Barman(settings, dr=params.from_dr, children=ctx.children())
        backups = pitr.list_base_backups(barman)
        window = pitr.recoverable_window(barman, backups)
        pitr.check_target(window, params.to, settings.server_name)
        node = _dr_node(ctx, params.dr_node_of) if params.dr_node_of else _node(settings, params)
        plan = {"window": window.describe(), "to": _iso(params.to), "node": str(node.directory)}
        if ctx.dry_run:
            return Result.success(plan=plan, **labels)
        pg_bin = ctx.resource(BACKUP).config.pg_bin_dir
        with _hold(ctx, settings, pg_bin, node) as held:  # kept once promoted
            restored = pitr.restore_node(barman, node, params.to, pg_bin, backups)
            ctx.leftovers.release(held)
    except (FluxoraError, OSError, ValueError) as exc:
        return Result.failure(f"point-in-time restore in {ctx.env} failed: {exc}", **labels)
    return Result.success(changed=True, **_restored_data(restored, window, params), **labels)


def _hold(
    ctx: ActionContext, settings: PitrConfig, pg_bin: Path | None, node: pitr.Node
) -> AbstractContextManager[Leftover]:
    """The node on the job's leftover ledger while it is being made: a replacement worker
    removes what a dead one left half restored."""
    return ctx.leftovers.holding(
        pitr.PITR_NODE, ctx.job_id, directory=str(node.directory), run_as=settings.run_as,
        pg_bin_dir=str(pg_bin) if pg_bin else None,
    )  # fmt: skip


def _node(settings: PitrConfig, params: RestoreToParams) -> pitr.Node:
    name = params.node or f"restore-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    return pitr.Node(name, settings.restore_dir / name, params.port or pitr.free_port())


def _dr_node(ctx: ActionContext, cluster_name: str) -> pitr.Node:
    """The cluster's DR node as a restore node on this host: its `host` is the node's socket
    directory (an absolute path), its port the node's."""
    cluster = ctx.resource(CLUSTERS).get(cluster_name)
    name = region.dr_node(cluster)
    node = cluster.node(name)
    if not Path(node.host).is_absolute():
        raise PitrError(
            f"restoring into the DR node {name} of {cluster_name} needs it on this host: its "
            f"host must be its socket directory (an absolute path), not {node.host!r}"
        )
    return pitr.Node(name, Path(node.host), node.port)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "newest archived WAL"


def _restored_data(
    restored: pitr.Restored, window: pitr.Window, params: RestoreToParams
) -> dict[str, Any]:
    node = restored.node
    return {
        "node": node.name,
        "data_dir": str(node.data_dir),
        "socket_dir": str(node.directory),
        "port": node.port,
        "backup_id": restored.backup.backup_id,
        "to": _iso(params.to),
        "window": window.describe(),
        "restore_seconds": restored.restore_seconds,
        "replay_seconds": restored.replay_seconds,
        "recovered_to": restored.recovered_to,
        "from_dr": params.from_dr,
        "measurement": {"rto_seconds": restored.restore_seconds + restored.replay_seconds},
    }


class RemoveDrNodeParams(ActionParams):
    dr_node_of: str = Field(min_length=1)  # the cluster whose DR node a restore made
    drill: bool = False  # only a drill's restore is removed: an evacuation's is the data


def remove_dr_node(ctx: ActionContext, params: RemoveDrNodeParams) -> Result:
    """A rolled-back evacuation drill: stop and delete the DR node the restore made, so the
    home region can take writes again without a second writer."""
    if not params.drill:
        return Result.success(note="not a drill: the DR node is kept")
    try:
        node = _dr_node(ctx, params.dr_node_of)
        if ctx.dry_run:
            return Result.success(plan={"remove": str(node.directory)})
        existed = node.directory.exists()
        pitr.remove_node(node, settings_for(ctx).run_as, ctx.resource(BACKUP).config.pg_bin_dir)
    except (FluxoraError, OSError, ValueError) as exc:
        return Result.failure(f"removing the DR node of {params.dr_node_of} failed: {exc}")
    return Result.success(changed=existed, removed=str(node.directory) if existed else None)


class PitrVerifyParams(ActionParams):
    # restore-verify: an environment without backup.pitr has nothing to prove (not a failure)
    if_configured: bool = False


def verify_point_in_time(ctx: ActionContext, params: PitrVerifyParams) -> Result:
    """Prove a point-in-time restore of the live cluster (see pitr_verify.py)."""
    labels: dict[str, Any] = {"env": ctx.env, "database": None, "kind": BASE_KIND}
    configured = ctx.resource(BACKUP).config.pitr.get(ctx.env)
    if params.if_configured and configured is None:
        return Result.success(
            skipped=True, note=f"no point-in-time recovery configured for {ctx.env}"
        )
    if params.if_configured and configured is not None and not configured.local_restores:
        return Result.success(
            skipped=True,
            note=f"point-in-time restores of {ctx.env} do not run on this daemon's host "
            f"(backup.pitr.{ctx.env}.local_restores is false)",
        )
    try:
        settings, server = _cluster(ctx, labels)
        check_local_restores(ctx.env, settings)
        if ctx.dry_run:
            return Result.success(plan={"verify": settings.server_name}, **labels)
        pg_bin = ctx.resource(BACKUP).config.pg_bin_dir
        verified = pitr_verify.verify_point_in_time(
            pitr.Barman(settings, children=ctx.children()), server, dbname=server.dbname,
            restore_dir=settings.restore_dir, pg_bin_dir=pg_bin,
            hold=partial(_hold, ctx, settings, pg_bin),
        )  # fmt: skip
    except (FluxoraError, OSError, ValueError, psycopg.Error) as exc:
        return Result.failure(f"point-in-time verification in {ctx.env} failed: {exc}", **labels)
    restored = verified.restored
    data = {
        "target": verified.target.isoformat(), "backup_id": restored.backup.backup_id,
        "tables_checked": verified.tables_checked, "problems": verified.problems,
        "recovered_to": restored.recovered_to,
        "measurement": {"rto_seconds": restored.restore_seconds + restored.replay_seconds},
        **labels,
    }  # fmt: skip
    if verified.problems:
        error = "point-in-time restore does not match the source: " + "; ".join(verified.problems)
        return Result.failure(error, changed=True, **data)
    return Result.success(changed=True, **data)


def register(registry: ActionRegistry) -> None:
    registry.register(
        "postgres.base_backup", NoParams, "barman-cloud base backup, then retention."
    )(base_backup)
    registry.register(
        "postgres.pitr_restore", RestoreToParams, "Restore the cluster to a moment into a new node."
    )(restore_to)
    registry.register(
        "postgres.pitr_verify", PitrVerifyParams, "Prove a point-in-time restore of the cluster."
    )(verify_point_in_time)
    registry.register(
        "postgres.pitr_remove_dr_node", RemoveDrNodeParams, "A drill's restored DR node removed."
    )(remove_dr_node)
