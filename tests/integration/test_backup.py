"""Backups and restore-verify against real PostgreSQL clusters, locally and on S3 (moto)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client import CollectorRegistry

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext, Progress
from orchestrator.core.results import Result
from orchestrator.families.backup.catalog import find_backup, list_backups, read_verification
from orchestrator.families.backup.metrics import BackupMetrics
from orchestrator.objectstore.base import ObjectStore
from orchestrator.objectstore.config import OBJECTSTORE
from tests.harness.backup import context_for, database_entry, load, scratch_database, write_config
from tests.harness.moto import DR_REGION
from tests.harness.orchestrator import fluxora_orch
from tests.harness.postgres import PgPair
from tests.harness.processes import ServerProcess
from tests.harness.s3 import create_bucket, create_dr_bucket

pytestmark = pytest.mark.integration
REGISTRY = builtin_registry()


def run(ctx: ActionContext, name: str, **params: Any) -> Result:
    action = REGISTRY.get(name)
    return action(ctx, action.parse(params))


@pytest.fixture
def source_db(pg_pair: PgPair) -> Iterator[str]:
    with scratch_database(pg_pair.primary) as name:
        yield name


@pytest.fixture
def local_config(tmp_path: Path, pg_pair: PgPair, source_db: str) -> Config:
    path = write_config(
        tmp_path / "c.yaml", tmp_path / "data", {"app": database_entry(pg_pair.primary, source_db)}
    )
    return load(path)


def test_logical_backup_then_verify_on_the_local_store(local_config: Config) -> None:
    progress: list[Progress] = []
    ctx = context_for(local_config, progress=progress.append)
    backed_up = run(ctx, "postgres.backup", database="app")
    assert backed_up.ok, backed_up.error
    assert backed_up.data["kind"] == "logical"
    assert progress
    assert progress[-1].done == backed_up.data["raw_bytes"]
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    (manifest,) = list_backups(store, "dev")
    assert manifest.backup_id == backed_up.data["backup_id"]
    assert manifest.tables is not None
    assert manifest.tables["public.readings"].rows == 10_000
    assert manifest.tables["audit.Odd Name"].rows == 2
    methods = {name: entry.method.value for name, entry in manifest.tables.items()}
    assert methods == {"public.meters": "record", "public.readings": "record",
                       "audit.Odd Name": "record", "public.moods": "text"}  # fmt: skip
    assert manifest.objects[0].sha256 == store.head(manifest.objects[0].key).sha256
    assert manifest.tools["pg_dump"].startswith("pg_dump (PostgreSQL) 15")

    verified = run(ctx, "postgres.verify", database="app")
    assert verified.ok, verified.error
    assert verified.data["tables_checked"] == 4
    assert verified.data["rto_seconds"] > 0
    assert verified.data["rpo_seconds"] >= 0
    record = json.loads(
        store.read_bytes(manifest.objects[0].key.rsplit("/", 1)[0] + "/verification.json")
    )
    assert record["ok"] is True


def test_snapshot_keeps_dump_and_statistics_consistent_under_writes(
    local_config: Config, pg_pair: PgPair, source_db: str
) -> None:
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            pg_pair.primary.psql(
                f"INSERT INTO readings VALUES (1, now() + {n} * interval '1 second', 1, 1, "
                "NULL, 'concurrent')",
                dbname=source_db,
            )

    writer = threading.Thread(target=write)
    writer.start()
    try:
        ctx = context_for(local_config)
        backed_up = run(ctx, "postgres.backup", database="app")
    finally:
        stop.set()
        writer.join()
    assert backed_up.ok, backed_up.error
    verified = run(ctx, "postgres.verify", backup_id=backed_up.data["backup_id"])
    assert verified.ok, verified.error


def s3_config(tmp_path: Path, pg_pair: PgPair, dbname: str, bucket: str, dr_bucket: str) -> Config:
    return load(
        write_config(
            tmp_path / "c.yaml",
            tmp_path / "data",
            {"app": database_entry(pg_pair.primary, dbname)},
            objectstore={
                "kind": "s3", "bucket": bucket, "region": "eu-west-1",
                "retry": {"attempts": 2, "backoff_seconds": 0.05},
                "dr": {"bucket": dr_bucket, "region": DR_REGION},
            },
        )
    )  # fmt: skip


def test_backup_to_s3_is_copied_to_the_dr_region(
    tmp_path: Path, pg_pair: PgPair, source_db: str, moto_server: ServerProcess, aws_reset: None
) -> None:
    bucket, dr_bucket = create_bucket(), create_dr_bucket()
    config = s3_config(tmp_path, pg_pair, source_db, bucket, dr_bucket)
    ctx = context_for(config)
    backed_up = run(ctx, "postgres.backup", database="app")
    assert backed_up.ok, backed_up.error
    assert backed_up.data["dr_copied"] is True
    dr_keys = {
        obj["Key"]
        for obj in boto3.client("s3", region_name=DR_REGION)
        .list_objects_v2(Bucket=dr_bucket)
        .get("Contents", [])
    }
    assert dr_keys == {
        *backed_up.data["objects"],
        backed_up.data["objects"][0].rsplit("/", 1)[0] + "/manifest.json",
    }
    head = boto3.client("s3").head_object(Bucket=bucket, Key=backed_up.data["objects"][0])
    assert head["ServerSideEncryption"] == "AES256"
    verified = run(ctx, "postgres.verify", database="app")
    assert verified.ok, verified.error


def test_flipped_byte_fails_verification_naming_object_and_checksum(
    local_config: Config,
) -> None:
    ctx = context_for(local_config)
    backed_up = run(ctx, "postgres.backup", database="app")
    key = backed_up.data["objects"][0]
    path = local_config.data_dir / "objects" / "objects" / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    metrics = BackupMetrics(CollectorRegistry())
    verified = run(ctx, "postgres.verify", backup_id=backed_up.data["backup_id"])
    metrics.observe_restore_verify(verified)
    assert not verified.ok
    assert f"object {key}" in (verified.error or "")
    assert "is corrupt: sha256" in (verified.error or "")
    labels = {"env": "dev", "database": "app", "kind": "logical"}
    assert metrics.verify_failures.labels(**labels)._value.get() == 1


def test_verification_compares_rows_and_content_with_the_manifest(
    local_config: Config,
) -> None:
    ctx = context_for(local_config)
    backed_up = run(ctx, "postgres.backup", database="app")
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    key = backed_up.data["objects"][0].rsplit("/", 1)[0] + "/manifest.json"
    manifest = json.loads(store.read_bytes(key))
    manifest["tables"]["public.meters"]["rows"] += 1
    manifest["tables"]["public.readings"]["checksum"] = "12345"
    store.put_bytes(key, json.dumps(manifest).encode())
    verified = run(ctx, "postgres.verify", database="app")
    assert not verified.ok
    problems = verified.data["problems"]
    assert problems[0] == "table public.meters: 50 rows restored, manifest says 51"
    assert problems[1].startswith("table public.readings: content checksum ")
    assert problems[1].endswith(", manifest says 12345")
    assert len(problems) == 2


def test_restore_refuses_production_server(tmp_path: Path, pg_pair: PgPair, source_db: str) -> None:
    config = load(
        write_config(
            tmp_path / "c.yaml",
            tmp_path / "data",
            {"app": database_entry(pg_pair.primary, source_db, production=True)},
        )
    )
    ctx = context_for(config)
    assert run(ctx, "postgres.backup", database="app").ok
    verified = run(ctx, "postgres.verify", database="app")
    assert not verified.ok
    assert "it is the server of production database dev/app" in (verified.error or "")
    assert "backup.restore_targets.dev" in (verified.error or "")


def test_restore_refuses_a_standby(tmp_path: Path, pg_pair: PgPair, source_db: str) -> None:
    config = load(
        write_config(
            tmp_path / "c.yaml",
            tmp_path / "data",
            {"app": database_entry(pg_pair.primary, source_db)},
            backup={"restore_targets": {"dev": {"host": "/var/run/postgresql",
                                                "port": pg_pair.replica.port}}},
        )
    )  # fmt: skip
    ctx = context_for(config)
    assert run(ctx, "postgres.backup", database="app").ok
    verified = run(ctx, "postgres.verify", database="app")
    assert "it is a standby" in (verified.error or "")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"user": "fxt_nobody"}, 'role "fxt_nobody" does not exist'),
        ({"port": 1}, "cannot connect to postgres@/var/run/postgresql:1/"),
        ({"password_env": "FXT_UNSET_PASSWORD"}, "password variable FXT_UNSET_PASSWORD is not set"),
        ({"dbname": "fxt_no_such_db"}, 'database "fxt_no_such_db" does not exist'),
    ],
)
def test_unreachable_source_or_bad_credentials_fail_with_the_reason(
    tmp_path: Path, pg_pair: PgPair, source_db: str, entry: dict[str, Any], message: str
) -> None:
    config = load(
        write_config(
            tmp_path / "c.yaml",
            tmp_path / "data",
            {"app": {**database_entry(pg_pair.primary, source_db), **entry}},
        )
    )
    ctx = context_for(config)
    metrics = BackupMetrics(CollectorRegistry())
    result = run(ctx, "postgres.backup", database="app")
    metrics.observe_backup(result)
    assert not result.ok
    assert message in (result.error or "")
    assert result.error.startswith("backup of dev/app (logical) failed: ")  # type: ignore[union-attr]
    labels = {"env": "dev", "database": "app", "kind": "logical"}
    assert metrics.failures.labels(**labels)._value.get() == 1
    assert metrics.last_success.labels(**labels)._value.get() == 0
    assert list_backups(ctx.resource(OBJECTSTORE), "dev") == []


def test_unknown_database_names_the_configured_ones(local_config: Config) -> None:
    result = run(context_for(local_config), "postgres.backup", database="nope")
    assert result.error == (
        "backup of dev/nope (logical) failed: no database 'nope' configured for environment "
        "'dev' (app, fluxora)"
    )


def test_cancelled_backup_leaves_nothing(local_config: Config) -> None:
    ctx = context_for(local_config)
    ctx.cancelled.set()
    result = run(ctx, "postgres.backup", database="app")
    assert not result.ok
    assert "cancelled" in (result.error or "")
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    assert list(store.list_objects()) == []
    assert store.incomplete_uploads() == []


def test_dry_run_describes_and_changes_nothing(local_config: Config) -> None:
    ctx = context_for(local_config, dry_run=True)
    result = run(ctx, "postgres.backup", database="app")
    assert result.ok
    assert not result.changed
    assert "pg_dump -Fc -Z1 --snapshot=" in result.data["plan"]["command"]
    assert list(ctx.resource(OBJECTSTORE).list_objects()) == []


def test_physical_backup_then_verify(tmp_path: Path, pg_pair: PgPair, source_db: str) -> None:
    config = load(
        write_config(
            tmp_path / "c.yaml",
            tmp_path / "data",
            {"app": database_entry(pg_pair.primary, "postgres")},
        )
    )
    ctx = context_for(config)
    backed_up = run(ctx, "postgres.backup", database="app", kind="physical")
    assert backed_up.ok, backed_up.error
    assert backed_up.data["consistent_lsn"]
    verified = run(ctx, "postgres.verify", database="app", kind="physical")
    assert verified.ok, verified.error


def test_failed_dr_copy_fails_the_run_but_keeps_the_backup(
    tmp_path: Path, pg_pair: PgPair, source_db: str, moto_server: ServerProcess, aws_reset: None
) -> None:
    config = s3_config(tmp_path, pg_pair, source_db, create_bucket(), "fxt-no-such-dr-bucket")
    ctx = context_for(config)
    result = run(ctx, "postgres.backup", database="app")
    assert not result.ok
    assert f"backup {result.data['backup_id']} is stored but its DR copy failed" in (
        result.error or ""
    )
    assert "NoSuchBucket" in (result.error or "")
    assert [m.backup_id for m in list_backups(ctx.resource(OBJECTSTORE), "dev")] == [
        result.data["backup_id"]
    ]


def test_cli_prints_summaries(tmp_path: Path, pg_pair: PgPair, source_db: str) -> None:
    config = write_config(
        tmp_path / "c.yaml", tmp_path / "data", {"app": database_entry(pg_pair.primary, source_db)}
    )

    def cli(*args: str) -> str:
        argv = [fluxora_orch(), *args, "--config", str(config)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "would back up postgres@/var/run/postgresql:" in cli("backup", "--dry-run")
    # --local: in this process whatever listens on the default address (no daemon here).
    backed_up = cli("backup", "--database", "app", "--local")
    assert backed_up.startswith("backup ")
    assert "of dev/app (logical):" in backed_up
    assert "4 tables, consistent at" in backed_up
    verified = cli("restore-verify", "--local")
    assert "verified: 4 tables match the manifest" in verified
    assert "RTO " in verified
    assert "RPO " in verified
    assert "  verified" in cli("backups", "list")
    assert "keep: " in cli("backups", "prune", "--dry-run")


def test_a_sql_ascii_database_backs_up_and_verifies(tmp_path: Path, pg_pair: PgPair) -> None:
    # pg_createcluster under the C locale (a fresh dev host) makes SQL_ASCII databases, where
    # a driver reads text as bytes unless told otherwise.
    name = "fxt_db_ascii"
    cluster = pg_pair.primary
    cluster.psql(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 LOCALE 'C'")
    try:
        cluster.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b')", dbname=name)
        path = write_config(
            tmp_path / "c.yaml", tmp_path / "data", {"app": database_entry(cluster, name)}
        )
        ctx = context_for(load(path))
        backed_up = run(ctx, "postgres.backup", database="app")
        assert backed_up.ok, backed_up.error
        verified = run(ctx, "postgres.verify", backup_id=backed_up.data["backup_id"])
        assert verified.ok, verified.error
        assert verified.data["tables_checked"] == 1
    finally:
        cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_refused_restore_verify_leaves_the_earlier_result_alone(
    tmp_path: Path, pg_pair: PgPair, source_db: str
) -> None:
    data = tmp_path / "data"
    entry = database_entry(pg_pair.primary, source_db)
    ctx = context_for(load(write_config(tmp_path / "c.yaml", data, {"app": entry})))
    backed_up = run(ctx, "postgres.backup", database="app")
    assert run(ctx, "postgres.verify", database="app").ok
    production = {"app": database_entry(pg_pair.primary, source_db, production=True)}
    refused = run(context_for(load(write_config(tmp_path / "p.yaml", data, production))),
                  "postgres.verify", database="app")  # fmt: skip
    assert not refused.ok
    assert refused.data["refused"] is True
    assert "refused: refusing to restore into" in (refused.error or "")
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    manifest = find_backup(store, "dev", backed_up.data["backup_id"], None, None)
    earlier = read_verification(store, manifest)
    assert earlier is not None
    assert earlier.ok  # the pass before the refusal, not overwritten by it
