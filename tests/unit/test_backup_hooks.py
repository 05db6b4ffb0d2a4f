"""Backup metrics in the daemon: schedules found through the rules, step results observed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.app.config import Config, load_config
from orchestrator.core.actions import ActionContext
from orchestrator.core.hooks import Run
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase, StepRecord, StepStatus
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.sources.schedules import ScheduleError
from orchestrator.families.backup.hooks import BackupMetricsHook, ScheduledWork, export_schedules
from orchestrator.families.backup.hooks import scheduled_work as work_of
from orchestrator.families.backup.metrics import BackupMetrics

LABELS = {"env": "dev", "database": "fluxora", "kind": "logical"}
RULES = [
    {"name": "b", "match": "fluxora/schedule/backup-*", "run": "backup"},
    {"name": "v", "match": "fluxora/schedule/verify-*", "run": "restore-verify"},
    {"name": "other", "match": "fluxora/schedule/*", "run": "noop"},
]


def config(**extra: Any) -> Config:
    return load_config(data_dir=Path("/nonexistent"), environ={}).model_copy(update=extra)


def test_the_embedded_dev_schedules_are_a_nightly_backup_and_restore_verify() -> None:
    assert work_of(config()) == [
        ScheduledWork(runbook="backup", interval_seconds=86400.0, **LABELS),
        ScheduledWork(runbook="restore-verify", interval_seconds=86400.0, **LABELS),
    ]


def test_a_schedule_is_backup_work_when_a_rule_runs_the_backup_runbook_on_it() -> None:
    schedules = [
        {"name": "backup-app", "interval": "2h", "data": {"database": "app", "kind": "physical"}},
        {"name": "verify-app", "interval": "1d", "data": {"database": "app"}},
        {"name": "drill", "interval": "1d", "data": {"database": "app"}},
    ]
    found = work_of(config(env="staging", rules=RULES, schedules=schedules))
    assert [(w.runbook, w.database, w.kind, w.env, w.interval_seconds) for w in found] == [
        ("backup", "app", "physical", "staging", 7200.0),
        ("restore-verify", "app", "logical", "staging", 86400.0),
    ]


def test_a_backup_schedule_without_a_database_is_an_error_naming_it() -> None:
    schedules = [{"name": "backup-all", "cron": "0 2 * * *", "data": {"kind": "logical"}}]
    with pytest.raises(ScheduleError, match=r"schedule 'backup-all': data.database: .*backup"):
        work_of(config(rules=RULES, schedules=schedules))


def test_intervals_are_exported_and_their_failure_counters_start_at_zero() -> None:
    registry = CollectorRegistry()
    export_schedules(BackupMetrics(registry), work_of(config()))
    assert registry.get_sample_value("fluxora_backup_interval_seconds", LABELS) == 86400
    assert registry.get_sample_value("fluxora_restore_verify_interval_seconds", LABELS) == 86400
    assert registry.get_sample_value("fluxora_backup_failures_total", LABELS) == 0
    assert registry.get_sample_value("fluxora_restore_verify_failures_total", LABELS) == 0


def record(action: str, status: StepStatus, **output: Any) -> StepRecord:
    now = datetime.now(UTC)
    return StepRecord(name=action.replace(".", "-"), action=action, phase=Phase.STEP,
                      status=status, started_at=now, ended_at=now, output=output,
                      error=None if status is StepStatus.OK else "it broke")  # fmt: skip


def finish(
    hook: BackupMetricsHook, steps: list[StepRecord], dry_run: bool = False, **params: Any
) -> None:
    job = Job(runbook="any", env="dev", params=params, dry_run=dry_run)
    spec = RunbookSpec.model_validate({"name": "any", "description": "d", "owner": "o",
                                       "environments": ["dev"],
                                       "steps": [{"name": "s", "action": "noop"}]})  # fmt: skip
    journal = Journal.start(job)
    for step in steps:
        journal = journal.with_step(step)
    run = Run(job=job, runbook=spec, journal=journal, context=ActionContext(env="dev"))
    asyncio.run(hook.on_finish(run))


def test_the_hook_observes_backup_and_verify_steps_of_any_runbook() -> None:
    registry = CollectorRegistry()
    hook = BackupMetricsHook(BackupMetrics(registry))
    backed_up = record("postgres.backup", StepStatus.OK, finished_at=1000.0,
                       duration_seconds=5.0, stored_bytes=10, **LABELS)  # fmt: skip
    verified = record("postgres.verify", StepStatus.OK, finished_at=1100.0, rto_seconds=3.0,
                      **LABELS)  # fmt: skip
    finish(hook, [backed_up, record("noop", StepStatus.FAILED), verified])
    assert registry.get_sample_value("fluxora_backup_last_success_timestamp_seconds", LABELS) == (
        1000.0
    )
    sample = registry.get_sample_value
    assert sample("fluxora_restore_verify_last_success_timestamp_seconds", LABELS) == 1100.0
    assert sample("fluxora_restore_verify_last_status", LABELS) == 1

    # A step that timed out has no output: its labels come from the job's parameters.
    finish(hook, [record("postgres.verify", StepStatus.TIMED_OUT)], database="fluxora",
           kind="logical")  # fmt: skip
    assert sample("fluxora_restore_verify_failures_total", LABELS) == 1
    assert sample("fluxora_restore_verify_last_status", LABELS) == 0
    assert sample("fluxora_restore_verify_last_success_timestamp_seconds", LABELS) == 1100.0


def test_a_dry_run_job_moves_no_metric() -> None:
    registry = CollectorRegistry()
    hook = BackupMetricsHook(BackupMetrics(registry))
    finish(hook, [record("postgres.backup", StepStatus.FAILED, **LABELS)], dry_run=True)
    assert registry.get_sample_value("fluxora_backup_failures_total", LABELS) is None
