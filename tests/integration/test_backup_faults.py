"""Faults against real parts: a backup process killed with SIGKILL mid-upload, and the S3
endpoint going away mid-upload (a proxy in front of the moto server is cut)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client import CollectorRegistry

from orchestrator.core.results import Result
from orchestrator.families.backup.catalog import list_backups
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.objectstore.config import OBJECTSTORE
from orchestrator.objectstore.s3 import MiB
from tests.harness.backup import context_for, database_entry, load, scratch_database, write_config
from tests.harness.orchestrator import fluxora_orch
from tests.harness.postgres import PgPair
from tests.harness.processes import ServerProcess, wait_until
from tests.harness.s3 import create_bucket
from tests.harness.tcpproxy import TcpProxy
from tests.integration.test_backup import run

pytestmark = pytest.mark.integration

# About 32 MB of hex text: ~17 MB once compressed, i.e. several 5 MiB parts.
BULKY = """
CREATE TABLE blobs (id int, body text);
INSERT INTO blobs SELECT i, (SELECT string_agg(md5(random()::text || j || i), '')
                             FROM generate_series(1, 10000) j)
FROM generate_series(1, 100) i;
"""
LABELS = {"env": "dev", "database": "app", "kind": "logical"}


@pytest.fixture
def bulky_db(pg_pair: PgPair) -> Iterator[str]:
    with scratch_database(pg_pair.primary, BULKY) as name:
        yield name


@pytest.fixture
def proxy(moto_server: ServerProcess) -> Iterator[TcpProxy]:
    host, port = moto_server.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    yield proxy
    proxy.close()


def s3_config(
    tmp_path: Path, pg_pair: PgPair, dbname: str, bucket: str, endpoint: str | None
) -> Path:
    return write_config(
        tmp_path / f"c-{'proxy' if endpoint else 'direct'}.yaml",
        tmp_path / "data",
        {"app": database_entry(pg_pair.primary, dbname)},
        objectstore={
            "kind": "s3", "bucket": bucket, "region": "eu-west-1", "endpoint_url": endpoint,
            "part_size_mib": 5,
            "retry": {"attempts": 3, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        },
        backup={"orphan_grace_seconds": 0},
    )  # fmt: skip


def uploads(bucket: str) -> list[dict[str, Any]]:
    return boto3.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def first_part_stored(bucket: str) -> bool:
    found = uploads(bucket)
    if not found:
        return False
    upload = found[0]
    parts = boto3.client("s3").list_parts(
        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
    )
    return len(parts.get("Parts", [])) >= 1


def test_s3_endpoint_gone_mid_upload_fails_after_bounded_retries(  # noqa: PLR0917
    tmp_path: Path,
    pg_pair: PgPair,
    bulky_db: str,
    proxy: TcpProxy,
    aws_reset: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = create_bucket()
    config = load(s3_config(tmp_path, pg_pair, bulky_db, bucket, proxy.url))
    ctx = context_for(config)
    proxy.stall_after(7 * MiB)  # the first 5 MiB part gets through, the second hangs
    results: list[Result] = []
    with caplog.at_level(logging.WARNING, logger="orchestrator.objectstore.s3"):
        backup = threading.Thread(
            target=lambda: results.append(run(ctx, "postgres.backup", database="app"))
        )
        backup.start()
        wait_until(lambda: proxy.stalled.is_set() and first_part_stored(bucket), 60, "part 1")
        proxy.cut()
        backup.join(timeout=120)
    (result,) = results
    assert not result.ok
    assert "failed after 3 attempts" in (result.error or "")
    assert "upload of part 2 of backups/dev/app/" in (result.error or "")
    attempts = [
        r.__dict__["attempt"] for r in caplog.records
        if "upload of part 2" in r.__dict__.get("operation", "")
    ]  # fmt: skip
    assert attempts == [1, 2, 3]
    metrics = BackupMetrics(CollectorRegistry())
    metrics.observe_backup(result)
    assert metrics.failures.labels(**LABELS)._value.get() == 1
    assert metrics.last_success.labels(**LABELS)._value.get() == 0
    direct = context_for(load(s3_config(tmp_path, pg_pair, bulky_db, bucket, None)))
    assert list_backups(direct.resource(OBJECTSTORE), "dev") == []
    assert uploads(bucket)  # its abort could not reach S3 either: prune's job
    pruned = run(direct, "postgres.prune")
    assert pruned.ok, pruned.error
    assert len(pruned.data["incomplete_uploads"]) == 1
    assert uploads(bucket) == []


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_sigkill_mid_backup_leaves_nothing_listed_and_prune_cleans_up(
    tmp_path: Path, pg_pair: PgPair, bulky_db: str, proxy: TcpProxy, aws_reset: None
) -> None:
    bucket = create_bucket()
    via_proxy = s3_config(tmp_path, pg_pair, bulky_db, bucket, proxy.url)
    direct = s3_config(tmp_path, pg_pair, bulky_db, bucket, None)
    proxy.stall_after(7 * MiB)
    log_path = tmp_path / "backup.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [fluxora_orch(), "backup", "--local", "--config", str(via_proxy), "--database", "app"],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip
    try:
        wait_until(lambda: proxy.stalled.is_set() and first_part_stored(bucket), 60, "part 1")
        children = _children(process.pid)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_until(lambda: not any(Path(f"/proc/{c}").exists() for c in children), 30, "pg_dump exit")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [fluxora_orch(), *args, "--config", str(direct), "--json"]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)

    assert json.loads(cli("backups", "list").stdout) == []
    assert len(uploads(bucket)) == 1  # the killed upload, never completed
    done = cli("backup", "--database", "app", "--local")
    assert done.returncode == 0, done.stderr
    (listed,) = json.loads(cli("backups", "list").stdout)
    assert listed["backup_id"] == json.loads(done.stdout)[0]["backup_id"]
    pruned = cli("backups", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert len(json.loads(pruned.stdout)[0]["incomplete_uploads"]) == 1
    assert uploads(bucket) == []
    assert len(json.loads(cli("backups", "list").stdout)) == 1


def test_cli_failure_exits_non_zero_with_the_reason(tmp_path: Path, pg_pair: PgPair) -> None:
    config = write_config(
        tmp_path / "c.yaml",
        tmp_path / "data",
        {"app": {**database_entry(pg_pair.primary, "fxt_unused"), "user": "fxt_nobody"}},
    )
    done = subprocess.run(
        [fluxora_orch(), "backup", "--local", "--config", str(config), "--database", "app"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        "fluxora-orch: error: backup of dev/app (logical) failed: cannot connect to fxt_nobody@"
        f"/var/run/postgresql:{pg_pair.primary.port}/fxt_unused" in done.stderr
    )
    assert 'role "fxt_nobody" does not exist' in done.stderr
