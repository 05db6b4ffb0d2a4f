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
from orchestrator.core.events import utcnow
from orchestrator.core.hooks import Run
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase, StepRecord, StepStatus
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.definitions import Definitions, scheduled_runs
from orchestrator.engine.rules.engine import compile_rules
from orchestrator.engine.runbooks.catalog import RunbookCatalog
from orchestrator.engine.sources.schedules import ScheduleError, parse_schedules
from orchestrator.families.backup.hooks import (
    BackupMetricsHook,
    ScheduledWork,
    export_schedules,
    scheduled_work,
)
from orchestrator.families.backup.metrics import BackupMetrics

LABELS = {"env": "dev", "database": "fluxora", "kind": "logical"}
WITH = {"database": "{{ event.data.database | default(none) }}",
        "kind": "{{ event.data.kind | default('logical') }}"}  # fmt: skip
RULES = [
    {"name": "b", "match": "fluxora/schedule/backup-*", "run": "backup", "with": WITH},
    {"name": "v", "match": "fluxora/schedule/verify-*", "run": "restore-verify", "with": WITH},
    {"name": "other", "match": "fluxora/schedule/*", "run": "noop"},
]


class AnyRunbook:
    """The rules' runbook policy for compiling them: every runbook name exists."""

    def __contains__(self, name: object) -> bool:
        return True


def config(**extra: Any) -> Config:
    return load_config(data_dir=Path("/nonexistent"), environ={}).model_copy(update=extra)


def work_of(config: Config) -> list[ScheduledWork]:
    """The backup work of `config`'s schedules, as the daemon finds it (through the rules)."""
    rules = compile_rules(config.rules, config.rules_source, AnyRunbook())  # type: ignore[arg-type]
    schedules = parse_schedules(config.schedules, config.rules_source)
    loaded = Definitions(runbooks=RunbookCatalog([]), rules=rules, schedules=schedules)
    return scheduled_work(scheduled_runs(loaded, config.env, utcnow()), config.rules_source)


def test_the_embedded_dev_schedules_are_the_dev_pillars_backups_and_restore_verify() -> None:
    """Nightly logical backup and restore-verify, weekly physical backup (as pillar has them)."""
    physical = {**LABELS, "kind": "physical"}
    assert work_of(config()) == [
        ScheduledWork(runbook="backup", interval_seconds=86400.0, **LABELS),
        ScheduledWork(runbook="backup", interval_seconds=7 * 86400.0, **physical),
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


def test_a_rule_whose_when_is_false_for_the_schedule_runs_no_backup_there() -> None:
    only_prod = [{**RULES[0], "when": "env == 'prod'"}]
    schedules = [{"name": "backup-app", "interval": "2h", "data": {"database": "app"}}]
    assert work_of(config(env="dev", rules=only_prod, schedules=schedules)) == []
    prod = work_of(config(env="prod", rules=only_prod, schedules=schedules))
    assert [(w.runbook, w.database, w.env) for w in prod] == [("backup", "app", "prod")]


def test_a_templated_run_finds_the_backup_runbook_too() -> None:
    named = [{"name": "by-data", "match": "fluxora/schedule/*", "run": "{{ event.data.runbook }}",
              "with": WITH}]  # fmt: skip
    schedules = [{"name": "nightly", "interval": "1d",
                  "data": {"runbook": "backup", "database": "app"}}]  # fmt: skip
    found = work_of(config(rules=named, schedules=schedules))
    assert [(w.runbook, w.database, w.kind) for w in found] == [("backup", "app", "logical")]


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


def test_an_interrupted_backup_counts_as_a_failed_backup() -> None:
    registry = CollectorRegistry()
    hook = BackupMetricsHook(BackupMetrics(registry))
    job = Job(runbook="backup", env="dev", params={"database": "fluxora", "kind": "logical"})
    step = {"name": "backup", "action": "postgres.backup"}
    spec = RunbookSpec.model_validate({"name": "backup", "description": "d", "owner": "o",
                                       "environments": ["dev"], "steps": [step]})  # fmt: skip
    journal = Journal.start(job)  # resumed: the step the daemon's stop cut short
    cut_short = {"name": "backup", "phase": "step", "started_at": "2026-12-07T03:00:00+00:00"}
    run = Run(job=job, runbook=spec, journal=journal, context=ActionContext(env="dev"),
              cut_short=cut_short)  # fmt: skip
    asyncio.run(hook.on_finish(run))
    assert registry.get_sample_value("fluxora_backup_failures_total", LABELS) == 1
    assert (
        registry.get_sample_value("fluxora_backup_last_success_timestamp_seconds", LABELS) is None
    )


def test_a_refused_restore_verify_counts_but_leaves_the_last_status_alone() -> None:
    registry = CollectorRegistry()
    hook = BackupMetricsHook(BackupMetrics(registry))
    passed = record("postgres.verify", StepStatus.OK, finished_at=1100.0, rto_seconds=3.0,
                    **LABELS)  # fmt: skip
    finish(hook, [passed])
    refused = record("postgres.verify", StepStatus.FAILED, refused=True, **LABELS)
    finish(hook, [refused])
    assert registry.get_sample_value("fluxora_restore_verify_failures_total", LABELS) == 1
    assert registry.get_sample_value("fluxora_restore_verify_last_status", LABELS) == 1
