"""Backup metrics in the daemon: declared once on its registry, updated from every finished
job's `postgres.backup` and `postgres.verify` steps (whatever the runbook: a DR drill's
restore-verify counts too), the configured schedules exported as intervals, and the
last-success gauges restored from the object-store catalog at start, so that a restart does
not reset them (the alerts would read a reset as "never backed up").

A schedule is a backup (or restore-verify) schedule when a rule sends its event
(`fluxora/schedule/<name>`) to the `backup` (or `restore-verify`) runbook, as the rules decide
it (glob, `when`, templates: `HookDeps.scheduled`); the job's database and kind (default
logical) are the labels of its interval gauge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job, ScheduledRun
from orchestrator.core.journal import Phase, StepRecord, StepStatus
from orchestrator.core.logs import get_logger
from orchestrator.core.results import Result
from orchestrator.engine.sources.schedules import ScheduleError
from orchestrator.families.backup.catalog import list_backups, read_verification
from orchestrator.families.backup.config import BackupFamilyConfig, PitrConfig
from orchestrator.families.backup.manifest import BackupKind, Manifest, Verification
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.families.backup.pitr_actions import BASE_KIND
from orchestrator.families.base import HookDeps
from orchestrator.objectstore.base import ObjectStore

log = get_logger(__name__)

BACKUP_ACTION = "postgres.backup"
BASE_BACKUP_ACTION = "postgres.base_backup"
VERIFY_ACTION = "postgres.verify"
BACKUP_RUNBOOK = "backup"
RESTORE_VERIFY_RUNBOOK = "restore-verify"
BASE_BACKUP_RUNBOOK = "base-backup"


@dataclass(frozen=True, kw_only=True)
class ScheduledWork:
    """One configured backup or restore-verify schedule, as its interval gauge sees it."""

    runbook: str
    env: str
    database: str
    kind: str
    interval_seconds: float


def scheduled_work(runs: Iterable[ScheduledRun], source: str) -> list[ScheduledWork]:
    """Every scheduled backup and restore-verify (`runs`: what each schedule runs, as the
    rules decide it); one whose job names no database is an error naming the schedule (its
    gauge would have no database label)."""
    found: dict[ScheduledWork, None] = {}
    for run in runs:
        if run.runbook not in (BACKUP_RUNBOOK, RESTORE_VERIFY_RUNBOOK):
            continue
        database = run.params.get("database")
        if not isinstance(database, str) or not database:
            reason = f"the {run.runbook} runbook runs on this schedule: name the database"
            raise ScheduleError(source, run.schedule, "data.database", reason)
        kind = BackupKind(run.params.get("kind") or BackupKind.LOGICAL.value)
        work = ScheduledWork(
            runbook=run.runbook,
            env=run.env,
            database=database,
            kind=kind.value,
            interval_seconds=run.interval_seconds,
        )
        found[work] = None
    return list(found)


def scheduled_base_backups(
    runs: Iterable[ScheduledRun], pitr: Mapping[str, PitrConfig]
) -> list[ScheduledWork]:
    """Scheduled base backups, as backups of kind `base` of the PITR cluster's database (the
    staleness alerts of every backup apply to them); environments without PITR are skipped:
    `validate` reports their jobs' failure to find `backup.pitr.<env>`."""
    return [
        ScheduledWork(
            runbook=BACKUP_RUNBOOK,
            env=run.env,
            database=pitr[run.env].database,
            kind=BASE_KIND,
            interval_seconds=run.interval_seconds,
        )
        for run in runs
        if run.runbook == BASE_BACKUP_RUNBOOK and run.env in pitr
    ]


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
            self._observe(record.action, step_result(run.job, record))
        if run.cut_short is not None and run.cut_short.get("phase") == Phase.STEP.value:
            self._observe(_action_of(run, run.cut_short["name"]), _cut_short(run))

    def _observe(self, action: str | None, result: Result) -> None:
        if action in (BACKUP_ACTION, BASE_BACKUP_ACTION):
            self.metrics.observe_backup(result)
        elif action == VERIFY_ACTION:
            self.metrics.observe_restore_verify(result)


def _action_of(run: Run, step: str) -> str | None:
    return next((s.action for s in run.runbook.steps if s.name == step), None)


def _cut_short(run: Run) -> Result:
    """The step a stop or crash cut short, as a failed Result: an interrupted backup is a
    backup that failed."""
    assert run.cut_short is not None
    params = run.job.params
    error = f"step {run.cut_short['name']!r} interrupted: the daemon stopped during it"
    return Result.failure(
        error, env=run.job.env, database=params.get("database"), kind=params.get("kind")
    )


def build_hooks(deps: HookDeps[BackupFamilyConfig]) -> list[RunHook]:
    config = deps.config
    metrics = BackupMetrics(deps.registry)
    work = scheduled_work(deps.scheduled, config.rules_source)
    export_schedules(metrics, work + scheduled_base_backups(deps.scheduled, config.backup.pitr))
    try:
        store = deps.objectstores.primary()
        restore_from_catalog(metrics, store, {config.env, *config.databases})
    except (FluxoraError, OSError) as exc:
        # The daemon runs without them; the next backup or verify sets them again.
        log.warning("backup metrics not restored from the object store", error=str(exc))
    return [BackupMetricsHook(metrics)]
