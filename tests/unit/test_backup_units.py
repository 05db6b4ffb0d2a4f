"""Backup pieces without I/O: retention plans, part sizes, retries, metrics, config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from prometheus_client import CollectorRegistry

from orchestrator.app.config import load_config
from orchestrator.core.errors import ConfigError
from orchestrator.core.logs import get_logger
from orchestrator.core.results import Result
from orchestrator.families.backup.config import RetentionConfig
from orchestrator.families.backup.manifest import BackupKind, Manifest, Source, TableEntry
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.families.backup.restore import compare_tables, scratch_dbname
from orchestrator.families.backup.retention import plan_retention
from orchestrator.objectstore.retry import RetriesExhaustedError, RetrySettings, call_with_retries
from orchestrator.objectstore.s3 import MAX_PARTS, MiB, is_transient, part_size_for

NOW = datetime(2025, 6, 30, 2, 0, tzinfo=UTC)


def manifest(
    days_ago: float, database: str = "app", kind: BackupKind = BackupKind.LOGICAL
) -> Manifest:
    at = NOW - timedelta(days=days_ago)
    return Manifest(
        backup_id=f"{at:%Y%m%dT%H%M%SZ}-{kind.value}-{database}",
        kind=kind,
        source=Source(env="dev", database=database, address="h:1", dbname="d",
                      system_identifier="1", server_version="15"),
        started_at=at, finished_at=at, consistent_at=at, consistent_lsn="0/1", objects=[],
    )  # fmt: skip


def kept(decisions: list) -> dict[str, tuple[str, ...]]:  # type: ignore[type-arg]
    return {d.manifest.backup_id[:8]: d.reasons for d in decisions if d.keep}


def test_retention_keeps_daily_weekly_monthly_and_minimum() -> None:
    backups = [manifest(d) for d in range(0, 120)]  # one a day for four months
    policy = RetentionConfig(daily=3, weekly=2, monthly=3, min_count=2)
    decisions = plan_retention(backups, set(), policy)
    assert kept(decisions) == {
        "20250630": ("minimum count", "daily", "weekly", "monthly"),
        "20250629": ("minimum count", "daily", "weekly"),  # Sunday: ends the previous ISO week
        "20250628": ("daily",),
        "20250531": ("monthly",),
        "20250430": ("monthly",),
    }
    assert sum(not d.keep for d in decisions) == 115


def test_retention_never_deletes_the_newest_verified_backup() -> None:
    backups = [manifest(d) for d in (0, 1, 40, 41)]
    verified = {backups[3].backup_id, backups[2].backup_id}
    decisions = plan_retention(backups, verified, RetentionConfig(daily=1, weekly=0, monthly=0,
                                                                  min_count=1))  # fmt: skip
    assert kept(decisions) == {
        "20250630": ("minimum count", "daily"),
        "20250521": ("newest verified",),
    }


def test_retention_is_per_database_and_kind() -> None:
    backups = [manifest(0), manifest(0, "other"), manifest(0, kind=BackupKind.PHYSICAL)]
    policy = RetentionConfig(daily=0, weekly=0, monthly=0, min_count=1)
    assert all(d.keep for d in plan_retention(backups, set(), policy))


def test_part_sizes_hold_s3s_largest_object_within_10000_parts() -> None:
    sizes = [part_size_for(n, 8 * MiB) for n in range(1, MAX_PARTS + 1)]
    assert sizes[0] == sizes[999] == 8 * MiB
    assert sizes[1000] == 16 * MiB
    assert sum(sizes) >= 5 * 1024 * 1024 * MiB  # 5 TiB
    assert max(sizes) <= 5 * 1024 * MiB


def test_retries_are_bounded_with_backoff_and_each_attempt_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delays: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        raise EndpointConnectionError(endpoint_url="http://gone")

    settings = RetrySettings(attempts=4, backoff_seconds=0.5, max_backoff_seconds=1.5)
    with pytest.raises(RetriesExhaustedError, match="put failed after 4 attempts"):
        call_with_retries(flaky, what="put", settings=settings, is_transient=is_transient,
                          log=get_logger("t"), sleep=delays.append)  # fmt: skip
    assert calls == 4
    assert delays == [0.5, 1.0, 1.5]
    assert [r.__dict__["attempt"] for r in caplog.records] == [1, 2, 3, 4]


def test_non_transient_errors_are_not_retried() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject")
    calls: list[int] = []

    def forbidden() -> None:
        calls.append(1)
        raise denied

    with pytest.raises(ClientError):
        call_with_retries(forbidden, what="put", settings=RetrySettings(),
                          is_transient=is_transient, log=get_logger("t"))  # fmt: skip
    assert calls == [1]
    assert is_transient(ClientError({"Error": {"Code": "SlowDown"}}, "PutObject"))
    assert is_transient(ReadTimeoutError(endpoint_url="http://slow"))


def test_metrics_count_failures_and_only_successes_move_timestamps() -> None:
    registry = CollectorRegistry()
    metrics = BackupMetrics(registry)
    labels = {"env": "dev", "database": "app", "kind": "logical"}
    ok = Result.success(changed=True, finished_at=1000.0, duration_seconds=12.5,
                        stored_bytes=4096, **labels)  # fmt: skip
    metrics.observe_backup(ok)
    metrics.observe_backup(Result.failure("boom", **labels))
    metrics.set_interval("dev", "app", "logical", 86400)

    def sample(name: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("fluxora_backup_last_success_timestamp_seconds") == 1000.0
    assert sample("fluxora_backup_duration_seconds") == 12.5
    assert sample("fluxora_backup_size_bytes") == 4096
    assert sample("fluxora_backup_failures_total") == 1
    assert sample("fluxora_backup_interval_seconds") == 86400
    metrics.observe_restore_verify(Result.failure("bad", rto_seconds=3.0, **labels))
    assert sample("fluxora_restore_verify_failures_total") == 1
    assert sample("fluxora_restore_verify_last_success_timestamp_seconds") is None
    assert sample("fluxora_restore_verify_last_status") == 0
    assert sample("fluxora_restore_duration_seconds") == 3.0
    metrics.observe_restore_verify(Result.success(rto_seconds=2.0, finished_at=2000.0, **labels))
    assert sample("fluxora_restore_verify_last_success_timestamp_seconds") == 2000.0
    assert sample("fluxora_restore_verify_last_status") == 1


def test_compare_tables_names_each_difference() -> None:
    expected = {"public.a": TableEntry(rows=2, checksum="1"), "public.b": TableEntry(rows=1,
                checksum="5"), "public.c": TableEntry(rows=0, checksum="0")}  # fmt: skip
    actual = {"public.a": TableEntry(rows=3, checksum="1"), "public.b": TableEntry(rows=1,
              checksum="6"), "public.d": TableEntry(rows=0, checksum="0")}  # fmt: skip
    assert compare_tables(expected, actual) == [
        "table public.c is missing after restore",
        "table public.d is not in the manifest",
        "table public.a: 3 rows restored, manifest says 2",
        "table public.b: content checksum 6, manifest says 5",
    ]


def test_scratch_database_names_fit_postgres() -> None:
    name = scratch_dbname("20250101T020000Z-logical-1a2b3c")
    assert name == "fluxora_verify_20250101t020000z_logical_1a2b3c"
    assert len(scratch_dbname("x" * 100)) == 63


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("databases: {dev: {app: {dbname: x, password: hunter2}}}\n",
         "c.yaml: databases.dev.app.password: Extra inputs are not permitted"),
        ("databases: {dev: {app: {dbname: x, password_env: A, password_file: /f}}}\n",
         "c.yaml: databases.dev.app: Value error, set password_env or password_file, not both"),
        ("databases: {dev: {app: {host: h}}}\n",
         "c.yaml: databases.dev.app.dbname: Field required"),
        ("objectstore: {kind: s3}\n", "c.yaml: objectstore: Value error, kind s3 needs a bucket"),
        ("objectstore: {part_size_mib: 1}\n", "c.yaml: objectstore.part_size_mib: Input should be"),
        ("backup: {retention: {min_count: 0}}\n", "c.yaml: backup.retention.min_count: Input"),
    ],
)  # fmt: skip
def test_bad_backup_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_file=file, environ={})
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
