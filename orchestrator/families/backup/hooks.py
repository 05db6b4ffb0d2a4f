"""Backup metrics in the daemon: declared once on its registry, updated from every finished
job's `postgres.backup` and `postgres.verify` steps (whatever the runbook: a DR drill's
restore-verify counts too), the configured schedules exported as intervals, and the
last-success gauges restored from the object-store catalog at start, so that a restart does
not reset them (the alerts would read a reset as "never backed up").

A schedule is a backup (or restore-verify) schedule when a rule sends its event
(`fluxora/schedule/<name>`) to the `backup` (or `restore-verify`) runbook; its data names the
database and the kind (default logical): these are the labels of its interval gauge.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import utcnow
from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job
from orchestrator.core.journal import StepRecord, StepStatus
from orchestrator.core.logs import get_logger
from orchestrator.core.results import Result
from orchestrator.engine.sources.schedules import ScheduleError, parse_schedules, schedule_tag
from orchestrator.families.backup.catalog import list_backups, read_verification
from orchestrator.families.backup.config import BackupFamilyConfig
from orchestrator.families.backup.manifest import BackupKind, Manifest, Verification
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.families.base import HookDeps
from orchestrator.objectstore.base import ObjectStore

log = get_logger(__name__)

BACKUP_ACTION = "postgres.backup"
VERIFY_ACTION = "postgres.verify"
BACKUP_RUNBOOK = "backup"
RESTORE_VERIFY_RUNBOOK = "restore-verify"


@dataclass(frozen=True, kw_only=True)
class ScheduledWork:
    """One configured backup or restore-verify schedule, as its interval gauge sees it."""

    runbook: str
    env: str
    database: str
    kind: str
    interval_seconds: float


def _runbooks_for(tag: str, rules: Iterable[dict[str, Any]]) -> set[str]:
    wanted = {BACKUP_RUNBOOK, RESTORE_VERIFY_RUNBOOK}
    return {
        str(rule["run"])
        for rule in rules
        if rule.get("run") in wanted and fnmatch.fnmatchcase(tag, str(rule.get("match", "")))
    }


def scheduled_work(config: BackupFamilyConfig) -> list[ScheduledWork]:
    """Every configured backup and restore-verify schedule; one without a database is an
    error naming the schedule (its gauge would have no database label)."""
    now = utcnow()
    found = []
    for spec in parse_schedules(config.schedules, config.rules_source):
        for runbook in sorted(_runbooks_for(schedule_tag(spec.name), config.rules)):
            database = spec.data.get("database")
            if not isinstance(database, str) or not database:
                raise ScheduleError(
                    config.rules_source,
                    spec.name,
                    "data.database",
                    f"the {runbook} runbook runs on this schedule: name the database",
                )
            kind = BackupKind(spec.data.get("kind", BackupKind.LOGICAL.value))
            found.append(
                ScheduledWork(
                    runbook=runbook,
                    env=config.env,
                    database=database,
                    kind=kind.value,
                    interval_seconds=spec.interval_seconds(now),
                )
            )
    return found


def export_schedules(metrics: BackupMetrics, work: Sequence[ScheduledWork]) -> None:
    for item in work:
        export = metrics.set_interval
        if item.runbook == RESTORE_VERIFY_RUNBOOK:
            export = metrics.set_verify_interval
        export(item.env, item.database, item.kind, item.interval_seconds)


def restore_from_catalog(metrics: BackupMetrics, store: ObjectStore, envs: Iterable[str]) -> None:
    """Set the last-success gauges from the backups (and verification records) in `store`."""
    for env in sorted(envs):
        by_target: dict[tuple[str, BackupKind], list[Manifest]] = {}
        for manifest in list_backups(store, env):  # newest first
            by_target.setdefault((manifest.source.database, manifest.kind), []).append(manifest)
        for manifests in by_target.values():
            metrics.restore_backup(manifests[0])
            _restore_verification(metrics, store, manifests)


def _restore_verification(
    metrics: BackupMetrics, store: ObjectStore, manifests: Sequence[Manifest]
) -> None:
    last: Verification | None = None
    for manifest in manifests:
        record = read_verification(store, manifest)
        if record is None:
            continue
        last = last or record
        if record.ok:
            metrics.restore_verification(manifest, last, record)
            return
    if last is not None:
        metrics.restore_verification(manifests[0], last, None)


def step_result(job: Job, record: StepRecord) -> Result:
    """A finished step as its action's Result; labels the output lacks (a step that timed out
    has no output) come from the job."""
    data: dict[str, Any] = {"env": job.env}
    data |= {key: job.params.get(key) for key in ("database", "kind")}
    data |= {key: value for key, value in record.output.items() if value is not None}
    if record.status is StepStatus.OK:
        return Result.success(changed=record.changed, **data)
    return Result.failure(record.error or f"step {record.status.value}", **data)


class BackupMetricsHook(RunHook):
    name = "backup_metrics"

    def __init__(self, metrics: BackupMetrics) -> None:
        self.metrics = metrics

    async def on_finish(self, run: Run) -> None:
        if run.job.dry_run:  # a dry run backs nothing up and verifies nothing
            return
        for record in run.journal.steps:
            if record.action == BACKUP_ACTION:
                self.metrics.observe_backup(step_result(run.job, record))
            elif record.action == VERIFY_ACTION:
                self.metrics.observe_restore_verify(step_result(run.job, record))


def build_hooks(deps: HookDeps[BackupFamilyConfig]) -> list[RunHook]:
    config = deps.config
    metrics = BackupMetrics(deps.registry)
    export_schedules(metrics, scheduled_work(config))
    try:
        store = deps.objectstores.primary()
        restore_from_catalog(metrics, store, {config.env, *config.databases})
    except (FluxoraError, OSError) as exc:
        # The daemon runs without them; the next backup or verify sets them again.
        log.warning("backup metrics not restored from the object store", error=str(exc))
    return [BackupMetricsHook(metrics)]
