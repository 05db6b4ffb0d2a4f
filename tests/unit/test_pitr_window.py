"""Which base backups retention deletes, which one a restore starts from, and which targets are
refused (pure functions of orchestrator/families/backup/pitr.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.app.config import load_config
from orchestrator.core.jobs import ScheduledRun
from orchestrator.core.results import Result
from orchestrator.families.backup import pitr_actions
from orchestrator.families.backup.config import ArchiveDestination, BackupConfig, PitrConfig
from orchestrator.families.backup.hooks import (
    ScheduledWork,
    export_schedules,
    scheduled_base_backups,
)
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.families.backup.pitr import (
    BaseBackup,
    OutsideWindowError,
    PitrError,
    Window,
    check_target,
    choose_backup,
    end_of_listed_second,
    expired,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def backup(day: int) -> BaseBackup:
    end = T0 + timedelta(days=day)
    return BaseBackup(
        backup_id=f"b{day}", name=None, begin_time=end - timedelta(minutes=5), end_time=end,
        begin_wal=f"{day:024X}", end_wal=f"{day:024X}",
    )  # fmt: skip


DAILY = [backup(day) for day in range(10)]


def test_retention_keeps_the_newest_backup_before_the_window_and_everything_after() -> None:
    window_start = T0 + timedelta(days=6, hours=12)
    doomed = expired(DAILY, window_start, keep=2)
    assert [b.backup_id for b in doomed] == [f"b{day}" for day in range(6)]  # b6 reaches 6.5


def test_retention_keeps_a_minimum_number_of_backups_whatever_their_age() -> None:
    doomed = expired(DAILY, T0 + timedelta(days=365), keep=3)
    assert [b.backup_id for b in doomed] == [f"b{day}" for day in range(7)]


def test_retention_deletes_nothing_when_no_backup_is_older_than_the_window() -> None:
    assert expired(DAILY, T0 - timedelta(days=1), keep=1) == []


def test_a_restore_starts_from_the_newest_backup_that_ended_before_the_target() -> None:
    assert choose_backup(DAILY, T0 + timedelta(days=4, hours=1)).backup_id == "b4"
    assert choose_backup(DAILY, None).backup_id == "b9"
    with pytest.raises(PitrError, match="no base backup ended before"):
        choose_backup(DAILY, T0 - timedelta(seconds=1))


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(days=3, seconds=1)])
def test_a_target_outside_the_window_is_refused_naming_the_window(offset: timedelta) -> None:
    window = Window(T0, T0 + timedelta(days=3))
    with pytest.raises(OutsideWindowError) as refused:
        check_target(window, T0 + offset, "fluxora-prod")
    assert "outside the retained window of fluxora-prod" in str(refused.value)
    assert f"{T0.isoformat()} .. {(T0 + timedelta(days=3)).isoformat()}" in str(refused.value)


def test_targets_inside_the_window_and_the_newest_wal_are_accepted() -> None:
    window = Window(T0, T0 + timedelta(days=3))
    for target in (T0, T0 + timedelta(days=1), T0 + timedelta(days=3), None):
        check_target(window, target, "fluxora-prod")


def test_a_wal_listed_at_a_whole_second_counts_as_stored_by_the_end_of_that_second() -> None:
    # S3 lists LastModified to the second: a commit at .5 s of that second may be in the segment
    listed = T0 + timedelta(seconds=43)
    assert end_of_listed_second(listed) == listed + timedelta(microseconds=999_999)
    precise = listed + timedelta(milliseconds=250)
    assert end_of_listed_second(precise) == precise


PITR = {
    "prod": PitrConfig(
        database="fluxora", server_name="fluxora-prod",
        archive=ArchiveDestination(url="s3://fluxora-prod-backups/wal"),
    )
}  # fmt: skip


def run_of(runbook: str, env: str) -> ScheduledRun:
    return ScheduledRun(
        schedule=f"{runbook}-{env}", runbook=runbook, env=env, params={}, interval_seconds=3600.0
    )


def test_scheduled_base_backups_export_an_interval_as_backups_of_kind_base() -> None:
    runs = [run_of("base-backup", "prod"), run_of("base-backup", "dev"), run_of("backup", "prod")]
    work = scheduled_base_backups(runs, PITR)
    assert work == [
        ScheduledWork(runbook="backup", env="prod", database="fluxora", kind="base",
                      interval_seconds=3600.0)
    ]  # fmt: skip
    metrics = BackupMetrics(registry := CollectorRegistry())
    export_schedules(metrics, work)
    labels = {"env": "prod", "database": "fluxora", "kind": "base"}
    assert registry.get_sample_value("fluxora_backup_interval_seconds", labels) == 3600.0


def test_a_base_backup_result_moves_the_base_backup_age() -> None:
    metrics = BackupMetrics(registry := CollectorRegistry())
    labels = {"env": "prod", "database": "fluxora", "kind": "base"}
    metrics.observe_backup(
        Result.success(finished_at=1000.0, duration_seconds=12.0, stored_bytes=4096, **labels)
    )
    metrics.observe_backup(Result.failure("barman-cloud-backup failed", **labels))
    assert (
        registry.get_sample_value("fluxora_backup_last_success_timestamp_seconds", labels) == 1000
    )
    assert registry.get_sample_value("fluxora_backup_failures_total", labels) == 1


def test_validate_names_what_the_pitr_actions_miss() -> None:
    config = load_config(data_dir=Path("/nonexistent"), environ={})
    assert pitr_actions.missing(config, "dev", {}) == ["backup.pitr.dev"]
    dev = PITR["prod"].model_copy(update={"database": "fluxora"})
    configured = config.model_copy(update={"backup": BackupConfig(pitr={"dev": dev})})
    assert pitr_actions.missing(configured, "dev", {}) == []
    assert pitr_actions.missing(configured, "dev", {"from_dr": True}) == [
        "backup.pitr.dev.dr_archive"
    ]
    unknown = BackupConfig(pitr={"dev": dev.model_copy(update={"database": "nope"})})
    other = configured.model_copy(update={"backup": unknown})
    assert pitr_actions.missing(other, "dev", {}) == ["databases.dev.nope"]
