"""`postgres.backup`, `postgres.restore`, `postgres.verify`, `postgres.prune`: backups of the
configured databases into the object store, and proof that they restore.

Every result carries `env`, `database` and `kind` (what BackupMetrics labels by); failures are
failed Results whose message says what failed and why.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import Field

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry, NoParams
from orchestrator.core.errors import FluxoraError
from orchestrator.core.results import Result
from orchestrator.families.backup.backup import BackupJob, plan_backup, replicate, run_backup
from orchestrator.families.backup.catalog import find_backup, write_verification
from orchestrator.families.backup.manifest import BackupKind, Manifest, Verification
from orchestrator.families.backup.resources import BACKUP, DATABASES
from orchestrator.families.backup.restore import (
    RefusedTargetError,
    RestoreJob,
    RestoreOutcome,
    plan_restore,
    restore_verify,
    scratch_dbname,
)
from orchestrator.families.backup.retention import prune
from orchestrator.families.backup.stream import Reporter
from orchestrator.objectstore.base import ObjectStore, ObjectStoreError
from orchestrator.objectstore.config import DR_OBJECTSTORE, OBJECTSTORE

EXPECTED_FAILURES = (FluxoraError, psycopg.Error)


class BackupParams(ActionParams):
    database: str = Field(min_length=1)
    kind: BackupKind = BackupKind.LOGICAL


class RestoreParams(ActionParams):
    """Which backup: `backup_id`, else the newest of `database` (and `kind`)."""

    backup_id: str | None = None
    database: str | None = None
    kind: BackupKind | None = None
    from_dr: bool = False  # read the DR region's copy (region evacuation)


def _reporter(ctx: ActionContext, message: str) -> Reporter:
    return Reporter(progress=ctx.progress, children=ctx.children(), message=message)


def backup(ctx: ActionContext, params: BackupParams) -> Result:
    labels: dict[str, Any] = {"env": ctx.env, "database": params.database, "kind": params.kind}
    started = time.monotonic()
    try:
        job = BackupJob(
            env=ctx.env,
            database=params.database,
            db=ctx.resource(DATABASES).get(ctx.env, params.database),
            kind=params.kind,
            store=ctx.resource(OBJECTSTORE),
            dr_store=ctx.resources.get(DR_OBJECTSTORE),
            settings=ctx.resource(BACKUP).config,
        )
        if ctx.dry_run:
            return Result.success(plan=plan_backup(job), **labels)
        manifest = run_backup(job, _reporter(ctx, f"backup of {params.database}"))
    except EXPECTED_FAILURES as exc:
        error = f"backup of {ctx.env}/{params.database} ({params.kind.value}) failed: {exc}"
        return _failed(ctx, error, labels)
    data = _backup_data(manifest, time.monotonic() - started)
    ctx.log.info("backup stored", job_id=ctx.job_id, backup_id=manifest.backup_id, **labels)
    if job.dr_store is not None:
        try:
            replicate(manifest, job.store, job.dr_store)
        except ObjectStoreError as exc:
            error = f"backup {manifest.backup_id} is stored but its DR copy failed: {exc}"
            return _failed(ctx, error, {**labels, **data, "dr_copied": False}, changed=True)
    return Result.success(changed=True, dr_copied=job.dr_store is not None, **data, **labels)


def _failed(
    ctx: ActionContext, error: str, data: dict[str, Any], *, changed: bool = False
) -> Result:
    ctx.log.error("action failed", job_id=ctx.job_id, error=error)
    return Result.failure(error, changed=changed, **data)


def _backup_data(manifest: Manifest, duration: float) -> dict[str, Any]:
    return {
        "backup_id": manifest.backup_id,
        "stored_bytes": manifest.stored_size,
        "raw_bytes": manifest.raw_size,
        "duration_seconds": duration,
        "finished_at": manifest.finished_at.timestamp(),
        "consistent_at": manifest.consistent_at.isoformat(),
        "consistent_lsn": manifest.consistent_lsn,
        "tables": len(manifest.tables or {}),
        "objects": [obj.key for obj in manifest.objects],
    }


def _restore_job(
    ctx: ActionContext, manifest: Manifest, store: ObjectStore, keep: bool
) -> RestoreJob:
    databases = ctx.resource(DATABASES)
    settings = ctx.resource(BACKUP)
    source = databases.get(ctx.env, manifest.source.database)
    return RestoreJob(
        env=ctx.env,
        manifest=manifest,
        store=store,
        target=settings.restore_target(ctx.env, source),
        target_dbname=scratch_dbname(manifest.backup_id),
        production=databases.production(),
        settings=settings.config,
        scratch_dir=settings.scratch_dir,
        leftovers=ctx.leftovers,
        job_id=ctx.job_id,
        keep=keep,
    )


def _run_restore(ctx: ActionContext, params: RestoreParams, *, keep: bool, record: bool) -> Result:
    labels: dict[str, Any] = {"env": ctx.env, "database": params.database, "kind": params.kind}
    manifest: Manifest | None = None
    store: ObjectStore | None = None
    try:
        store = ctx.resource(DR_OBJECTSTORE if params.from_dr else OBJECTSTORE)
        manifest = find_backup(store, ctx.env, params.backup_id, params.database, params.kind)
        labels = {"env": ctx.env, "database": manifest.source.database, "kind": manifest.kind}
        job = _restore_job(ctx, manifest, store, keep)
        if ctx.dry_run:
            return Result.success(plan=plan_restore(job), **labels)
        outcome = restore_verify(job, _reporter(ctx, f"restore of {manifest.backup_id}"))
    except RefusedTargetError as exc:
        # Nothing was restored: the backup was not tested, and its earlier verification
        # results (and the last-status gauge they set) stay as they are.
        error = f"restore of {params.backup_id or 'the newest backup'} refused: {exc}"
        return _failed(ctx, error, {**labels, "refused": True})
    except EXPECTED_FAILURES as exc:
        error = f"restore of {params.backup_id or 'the newest backup'} failed: {exc}"
        if record and manifest is not None and store is not None:
            _record(store, manifest, None, [str(exc)])
        return _failed(ctx, error, labels)
    if record:
        _record(store, manifest, outcome, outcome.problems)
    data = {**_restore_data(outcome), "dbname": job.target_dbname, **labels}
    if not outcome.ok:
        error = f"backup {manifest.backup_id} restored but does not match its manifest: " + (
            "; ".join(outcome.problems)
        )
        return _failed(ctx, error, data, changed=True)
    return Result.success(changed=True, **data)


def _restore_data(outcome: RestoreOutcome) -> dict[str, Any]:
    return {
        "backup_id": outcome.backup_id,
        "target": outcome.target,
        "rto_seconds": outcome.rto_seconds,
        "rpo_seconds": outcome.rpo_seconds,
        "verify_seconds": outcome.verify_seconds,
        "restored_bytes": outcome.restored_bytes,
        "tables_checked": outcome.tables_checked,
        "problems": outcome.problems,
        "finished_at": datetime.now(UTC).timestamp(),
    }


def _record(
    store: ObjectStore, manifest: Manifest, outcome: RestoreOutcome | None, problems: list[str]
) -> None:
    record = Verification(
        backup_id=manifest.backup_id,
        ok=outcome is not None and outcome.ok,
        verified_at=datetime.now(UTC),
        rto_seconds=outcome.rto_seconds if outcome else 0.0,
        rpo_seconds=outcome.rpo_seconds if outcome else 0.0,
        problems=problems,
    )
    # The result already says what happened; retention just sees no verification.
    with contextlib.suppress(ObjectStoreError):
        write_verification(store, manifest, record)


def restore(ctx: ActionContext, params: RestoreParams) -> Result:
    """Restore into a scratch database that is kept, for inspection or a drill."""
    return _run_restore(ctx, params, keep=True, record=False)


def verify(ctx: ActionContext, params: RestoreParams) -> Result:
    """Restore into a scratch database, compare with the manifest, drop it, record the result."""
    return _run_restore(ctx, params, keep=False, record=True)


def prune_backups(ctx: ActionContext, params: NoParams) -> Result:
    try:
        settings = ctx.resource(BACKUP).config
        report = prune(
            ctx.resource(OBJECTSTORE),
            ctx.env,
            settings.retention,
            grace=timedelta(seconds=settings.orphan_grace_seconds),
            now=datetime.now(UTC),
            dry_run=ctx.dry_run,
        )
    except EXPECTED_FAILURES as exc:
        return Result.failure(f"prune of {ctx.env} backups failed: {exc}", env=ctx.env)
    data: dict[str, Any] = {
        "env": ctx.env,
        "dry_run": ctx.dry_run,
        "delete": [m.backup_id for m in report.deleted],
        "keep": {d.manifest.backup_id: list(d.reasons) for d in report.decisions if d.keep},
        "orphan_objects": report.orphan_objects,
        "incomplete_uploads": [u.key for u in report.incomplete_uploads],
    }
    changed = not ctx.dry_run and bool(
        report.deleted or report.orphan_objects or report.incomplete_uploads
    )
    if ctx.dry_run:
        data["plan"] = {k: data[k] for k in ("delete", "orphan_objects", "incomplete_uploads")}
    return Result.success(changed=changed, **data)


def register(registry: ActionRegistry) -> None:
    registry.register("postgres.backup", BackupParams, "Back up a database into the object store.")(
        backup
    )
    registry.register(
        "postgres.restore", RestoreParams, "Restore a backup into a scratch database (kept)."
    )(restore)
    registry.register(
        "postgres.verify", RestoreParams, "Restore-verify a backup against its manifest."
    )(verify)
    registry.register("postgres.prune", NoParams, "Apply backup retention; clean failed uploads.")(
        prune_backups
    )
