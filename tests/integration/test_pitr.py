"""Point-in-time recovery with barman-cloud on real parts: a PostgreSQL cluster archiving WAL
through fluxora-wal-archive to the moto server (two buckets), base backups by the orchestrator's
action, restores into new nodes to a moment or to the newest WAL, retention, and refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.app.config import Config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.leftovers import Leftover
from orchestrator.core.results import Result
from orchestrator.families.backup import pitr as barman_pitr
from orchestrator.families.backup.family import BackupFamily
from tests.harness import pitr, postgres
from tests.harness.backup import context_for, load, scheduled_backups, write_config
from tests.harness.fluxora import start_daemon
from tests.harness.moto import DR_REGION, REGION
from tests.harness.orchestrator import fluxora_orch
from tests.harness.processes import ServerProcess, wait_until
from tests.integration.test_child_work import kill_worker
from tests.integration.test_dr_hooks import request

pytestmark = pytest.mark.integration
REGISTRY = builtin_registry()


def run(ctx: ActionContext, name: str, **params: Any) -> Result:
    action = REGISTRY.get(name)
    return action(ctx, action.parse(params))


@dataclass
class Source:
    lab: pitr.ArchiveLab
    cluster: postgres.PgCluster
    config: Config
    config_path: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`fluxora-orch ARGS --local --json --config ...`: the runbook path, in-process."""
        argv = [fluxora_orch(), *args, "--local", "--json", "--config", str(self.config_path)]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)

    def ctx(self) -> ActionContext:
        return context_for(self.config)

    def barman(self, dr: bool = False) -> barman_pitr.Barman:
        return barman_pitr.Barman(self.config.backup.pitr["dev"], dr=dr)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.cluster.psql("SELECT clock_timestamp()"))

    def insert(self, batch: str, rows: int = 100) -> datetime:
        """Commit `rows` rows of `batch`; return a moment after the commit, before any later one."""
        self.cluster.psql(
            f"INSERT INTO pitr_rows SELECT '{batch}', i, md5(i::text) "
            f"FROM generate_series(1, {rows}) i"
        )
        return self.now()

    def archive_all(self) -> None:
        pitr.wait_archived(self.cluster, pitr.switch_wal(self.cluster))


def pitr_config(lab: pitr.ArchiveLab, moto_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "database": "app",
        "server_name": lab.server_name,
        "archive": {"url": f"s3://{lab.bucket}/wal", "region": REGION, "endpoint_url": moto_url},
        "dr_archive": {
            "url": f"s3://{lab.dr_bucket}/wal", "region": DR_REGION, "endpoint_url": moto_url,
        },
        "aws_credentials_file": str(lab.credentials_file),
        "restore_dir": str(lab.root / "restores"),
        "restore_timeout_seconds": 120,
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def source(
    run_id: str, moto_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    lab, cluster = pitr.archiving_source(run_id, moto_server.url, "pitr")
    tmp = tmp_path_factory.mktemp("pitr")
    database = {"host": postgres.SOCKET_DIR, "port": cluster.port, "dbname": "postgres"}
    path = write_config(
        tmp / "c.yaml", tmp / "data", {"app": database},
        backup={"pitr": {"dev": pitr_config(lab, moto_server.url)}},
    )  # fmt: skip
    try:
        cluster.psql("CREATE TABLE pitr_rows (batch text, n int, payload text)")
        source = Source(lab, cluster, load(path), path)
        backed_up = run(source.ctx(), "postgres.base_backup")
        assert backed_up.ok, backed_up.error
        yield source
    finally:
        for node in (lab.root / "restores").glob("*"):
            barman_pitr.remove_node(barman_pitr.Node(node.name, node, 0), "postgres", None)
        cluster.drop()
        shutil.rmtree(lab.root, ignore_errors=True)


def node_sql(result: Result, sql: str) -> str:
    node = postgres.PgCluster("", "", result.data["port"])
    argv = ["psql", "-X", "-At", "-h", result.data["socket_dir"], "-p", str(node.port), "-c", sql]
    return pitr.run_as_postgres(argv).stdout.strip()


CHECKSUM = (
    "SELECT count(*) || ':' || md5(string_agg(batch || n || payload, ',' ORDER BY batch, n)) "
    "FROM pitr_rows"
)


def test_restore_to_a_moment_has_every_row_before_it_and_none_after(source: Source) -> None:
    source.insert("before")
    target = source.now()
    expected = source.cluster.psql(CHECKSUM)
    source.insert("after")
    source.archive_all()

    done = source.cli("restore", "--to", target.isoformat(), "--node", "moment")

    assert done.returncode == 0, done.stderr
    (data,) = json.loads(done.stdout)
    restored = Result.success(**{k: v for k, v in data.items() if k not in ("ok", "changed")})
    assert node_sql(restored, "SELECT count(*) FROM pitr_rows WHERE batch = 'after'") == "0"
    assert node_sql(restored, CHECKSUM) == expected
    assert node_sql(restored, "SELECT pg_is_in_recovery()") == "f"  # promoted: takes writes
    assert restored.data["recovered_to"] is not None
    assert restored.data["replay_seconds"] > 0


def test_restore_from_the_dr_copy_reaches_the_newest_archived_wal(source: Source) -> None:
    source.insert("newest")
    expected = source.cluster.psql(CHECKSUM)
    source.archive_all()

    restored = run(source.ctx(), "postgres.pitr_restore", from_dr=True, node="newest")

    assert restored.ok, restored.error
    assert restored.data["from_dr"] is True
    assert node_sql(restored, CHECKSUM) == expected


@pytest.mark.parametrize(
    "offset", [timedelta(hours=-1), timedelta(hours=1)], ids=["before", "after"]
)
def test_a_target_outside_the_window_is_refused_naming_it(
    source: Source, offset: timedelta
) -> None:
    window = barman_pitr.recoverable_window(
        source.barman(), barman_pitr.list_base_backups(source.barman())
    )
    target = (window.start if offset < timedelta(0) else window.end) + offset

    refused = source.cli("restore", "--to", target.isoformat(), "--node", "refused")

    assert refused.returncode == 1
    assert f"outside the retained window of {source.lab.server_name}" in refused.stderr
    assert f": {window.start.isoformat()} .. " in refused.stderr  # the end moves with new WAL
    assert not (source.lab.root / "restores" / "refused").exists()


def test_a_time_without_offset_is_refused() -> None:
    action = REGISTRY.get("postgres.pitr_restore")
    with pytest.raises(ValueError, match="with its offset"):
        action.parse({"to": "2026-12-07T10:41:00"})


def test_restore_verify_also_proves_a_point_in_time_restore_where_pitr_is_configured(
    source: Source,
) -> None:
    source.insert("verified")
    backed_up = run(source.ctx(), "postgres.backup", database="app")
    assert backed_up.ok, backed_up.error

    done = source.cli("restore-verify", "--database", "app")

    assert done.returncode == 0, done.stderr
    logical, point_in_time = json.loads(done.stdout)
    assert logical["backup_id"] == backed_up.data["backup_id"]
    assert point_in_time["ok"] is True
    assert point_in_time["problems"] == []
    assert point_in_time["tables_checked"] >= 2  # pitr_rows and the marker table at least
    assert not list((source.lab.root / "restores").glob("pitr-verify-*"))  # node removed


def node_processes(directory: Path) -> list[int]:
    """Live processes whose command line names `directory` (a restore node's postgres)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if str(directory).encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_a_worker_killed_during_restore_verifys_point_in_time_proof_leaves_no_node(
    source: Source, tmp_path: Path
) -> None:
    database = {"host": postgres.SOCKET_DIR, "port": source.cluster.port, "dbname": "postgres"}
    document = scheduled_backups({"app": database}, every="1h")
    moto_url = source.config.backup.pitr["dev"].archive.endpoint_url
    document["backup"] = {"pitr": {"dev": pitr_config(source.lab, str(moto_url))}}
    daemon = start_daemon(tmp_path, **document)
    restores = source.lab.root / "restores"
    try:
        backup = daemon.client.finished_job(request(daemon, "backup", database="app"), 120)
        assert backup["status"] == "completed", backup["journal"]["error"]
        job_id = request(daemon, "restore-verify", database="app")
        worker = daemon.job_worker_pid()
        wait_until(lambda: bool(list(restores.glob("pitr-verify-*"))), 180, "a restore node")
        (node,) = restores.glob("pitr-verify-*")
        daemon = kill_worker(daemon, worker)
        job = daemon.client.finished_job(job_id, 60)
        wait_until(lambda: not node.exists(), 30, f"{node} swept")
        leftovers = list((daemon.data_dir / "leftovers").rglob("*.json"))
    finally:
        assert daemon.stop() == 0
    assert job["status"] == "interrupted"
    assert node_processes(node) == []
    assert leftovers == []


def test_retention_deletes_old_base_backups_and_the_wal_only_they_needed(source: Source) -> None:
    """Last in the module: it deletes the backups the other tests restore from."""
    source.insert("newer")
    assert run(source.ctx(), "postgres.base_backup").ok
    barman = source.barman()
    before = barman_pitr.list_base_backups(barman)
    assert len(before) >= 2
    keep = before[-1]
    settings = barman.settings.model_copy(update={"min_base_backups": 1})

    deleted = barman_pitr.apply_retention(
        barman_pitr.Barman(settings), datetime.now(UTC) + timedelta(days=30)
    )

    assert deleted == [b.backup_id for b in before[:-1]]
    assert [b.backup_id for b in barman_pitr.list_base_backups(barman)] == [keep.backup_id]
    remaining = [wal for wal in source.lab.wal_keys() if not wal.endswith(".history")]
    assert remaining
    assert min(w.split(".")[0] for w in remaining) >= keep.begin_wal
    window = barman_pitr.recoverable_window(barman, barman_pitr.list_base_backups(barman))
    assert window.start == keep.end_time


def test_a_half_restored_node_left_by_a_dead_worker_is_swept(tmp_path: Path) -> None:
    directory = tmp_path / "restore-1"
    (directory / "data" / "base").mkdir(parents=True)  # barman-cloud-restore was cut short
    leftover = Leftover(kind=barman_pitr.PITR_NODE, job_id="j1",
                        data={"directory": str(directory), "run_as": None})  # fmt: skip

    assert barman_pitr.sweep_node(leftover) == f"removed restore node {directory}"
    assert not directory.exists()
    deps = SimpleNamespace(config=None)
    assert barman_pitr.PITR_NODE in BackupFamily().build_sweepers(deps)  # type: ignore[arg-type]


def test_restores_are_refused_where_the_daemons_host_runs_no_postgresql(tmp_path: Path) -> None:
    """local_restores false (staging's and prod's ops hosts): a restore is refused naming the
    setting, and restore-verify's point-in-time step succeeds saying why it proved nothing."""
    settings = {
        "database": "app", "server_name": "fluxora-staging", "local_restores": False,
        "archive": {"url": "s3://fluxora-staging-backups/wal", "region": REGION},
    }  # fmt: skip
    database = {"host": postgres.SOCKET_DIR, "port": 5432, "dbname": "app"}
    path = write_config(
        tmp_path / "c.yaml", tmp_path / "data", {"app": database},
        backup={"pitr": {"dev": settings}},
    )  # fmt: skip
    ctx = context_for(load(path))
    refused = "backup.pitr.dev.local_restores is false"
    restored = run(ctx, "postgres.pitr_restore")
    assert not restored.ok
    assert refused in str(restored.error)
    proved = run(ctx, "postgres.pitr_verify")
    assert not proved.ok
    assert refused in str(proved.error)
    skipped = run(ctx, "postgres.pitr_verify", if_configured=True)
    assert skipped.ok, skipped.error
    assert skipped.data["skipped"] is True
    assert refused in skipped.data["note"]
