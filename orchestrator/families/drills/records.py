"""Drill results: one row per drill run in the store (from the targets assessment the runner
stores as the `dr` journal extension), and the drill metrics (catalogue in
docs/ARCHITECTURE.md), restored from the store at start.

`fluxora_drill_last_status` is 1 when the last run completed, without deviation, with every
target met, and 0 otherwise (the FluxoraDrillFailed alert reads it); the last-success
timestamp moves only then. Dry runs measure nothing and change no metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    select,
)

from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.journal import Journal, RunStatus
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.executor.targets import EXTENSION, Verdict
from orchestrator.store.runner import StoreRunner
from orchestrator.store.schema import FamilyTables

LABELS = ("runbook", "env")
Key = tuple[str, str]  # (runbook, env)
TABLE = "dr_drill_runs"


def define_tables(metadata: MetaData) -> None:
    Table(
        TABLE,
        metadata,
        Column("job_id", String(64), primary_key=True),
        Column("runbook", String(200), nullable=False, index=True),
        Column("env", String(100), nullable=False),
        Column("finished_at", DateTime(timezone=True), nullable=False),
        Column("succeeded", Boolean, nullable=False),
        Column("rto_seconds", Float, nullable=True),
        Column("rpo_seconds", Float, nullable=True),
    )


@dataclass(frozen=True, kw_only=True)
class DrillRun:
    job_id: str
    runbook: str
    env: str
    finished_at: datetime
    succeeded: bool
    rto_seconds: float | None
    rpo_seconds: float | None


def save_run(tables: FamilyTables, run: DrillRun) -> None:
    """One row per job: a run resumed again after a crash during its resume replaces it."""
    table = tables.metadata.tables[TABLE]
    with tables.transaction() as conn:
        conn.execute(table.delete().where(table.c.job_id == run.job_id))
        conn.execute(table.insert().values(**run.__dict__))


def drill_runs(tables: FamilyTables) -> list[DrillRun]:
    """Every recorded drill run, oldest first."""
    table = tables.metadata.tables[TABLE]
    with tables.transaction() as conn:
        rows = conn.execute(select(table).order_by(table.c.finished_at)).mappings().all()
    return [DrillRun(**row) for row in rows]


class DrillMetrics:
    """The drill gauges, declared once on the daemon's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, LABELS, registry=registry)

        self.last_success = gauge(
            "fluxora_drill_last_success_timestamp_seconds",
            "End of the last drill run that completed with its targets met.",
        )
        self.last_status = gauge(
            "fluxora_drill_last_status",
            "1 when the last drill run completed with its RTO and RPO targets met, else 0.",
        )
        self.rto = gauge("fluxora_drill_rto_seconds", "Measured RTO of the last drill run.")
        self.rpo = gauge("fluxora_drill_rpo_seconds", "Measured RPO of the last drill run.")
        self.rto_target = gauge("fluxora_drill_rto_target_seconds", "The runbook's RTO target.")
        self.rpo_target = gauge("fluxora_drill_rpo_target_seconds", "The runbook's RPO target.")
        self.interval = gauge(
            "fluxora_drill_interval_seconds", "Configured interval between scheduled drills."
        )

    def set_targets(self, runbook: RunbookSpec, env: str) -> None:
        if runbook.targets.rto is not None:
            self.rto_target.labels(runbook.name, env).set(runbook.targets.rto)
        if runbook.targets.rpo is not None:
            self.rpo_target.labels(runbook.name, env).set(runbook.targets.rpo)

    def observe(self, run: DrillRun) -> None:
        labels = (run.runbook, run.env)
        self.last_status.labels(*labels).set(1 if run.succeeded else 0)
        if run.succeeded:
            self.last_success.labels(*labels).set(run.finished_at.timestamp())
        if run.rto_seconds is not None:
            self.rto.labels(*labels).set(run.rto_seconds)
        if run.rpo_seconds is not None:
            self.rpo.labels(*labels).set(run.rpo_seconds)

    def restore(self, tables: FamilyTables) -> None:
        """At start: every recorded run replayed in order, so the gauges read as they did."""
        for run in drill_runs(tables):
            self.observe(run)


def is_drill(runbook: RunbookSpec) -> bool:
    """A runbook marked `drill: true` has the drill metrics (every run is measured against its
    targets; a backup runbook's targets are not a drill's)."""
    return runbook.drill


def succeeded(journal: Journal, assessment: Mapping[str, Any]) -> bool:
    """`fluxora_drill_last_status` 1: completed, no deviation, every target met (a drill
    must measure each of its targets: an unmeasured one is not a success)."""
    completed = journal.status is RunStatus.COMPLETED
    verdicts = (assessment.get("verdicts") or {}).values()
    every_met = bool(verdicts) and all(v == Verdict.MET.value for v in verdicts)
    return completed and not journal.deviated and every_met


class DrillRecordHook(RunHook):
    """Each finished drill run (not a dry run) into the store and the metrics, from the
    targets assessment the runner put in `journal.extensions["dr"]`."""

    name = "drill"

    def __init__(self, metrics: DrillMetrics, runner: StoreRunner, tables: FamilyTables) -> None:
        self._metrics = metrics
        self._runner = runner
        self._tables = tables

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        if not run.job.dry_run and is_drill(run.runbook):
            await self._record(run, run.journal.extensions[EXTENSION])
        return None

    async def _record(self, run: Run, assessment: Mapping[str, Any]) -> None:
        journal = run.journal
        drill = DrillRun(
            job_id=run.job.id,
            runbook=run.job.runbook,
            env=run.job.env,
            finished_at=journal.ended_at or journal.started_at,
            succeeded=succeeded(journal, assessment),
            rto_seconds=assessment["rto_seconds"],
            rpo_seconds=assessment["rpo_seconds"],
        )
        await self._runner.call(save_run, self._tables, drill)
        self._metrics.set_targets(run.runbook, drill.env)
        self._metrics.observe(drill)
