"""Restore-verify: restore a backup into a scratch database (logical) or directory (physical),
check the stored objects against the manifest's checksums, then the restored data against the
manifest's per-table row counts and content checksums. Reports RTO and RPO.

It refuses any target that is the source database or a production server: a verification must
never be able to overwrite what it verifies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from orchestrator.core.children import PATH, ChildStartError
from orchestrator.core.leftovers import Leftover, LeftoverLedger
from orchestrator.core.logs import get_logger
from orchestrator.families.backup.archive import ArchiveFormatError, add_data_offsets
from orchestrator.families.backup.config import BackupConfig
from orchestrator.families.backup.database import ServerFacts, parallel_table_stats, server_facts
from orchestrator.families.backup.manifest import BackupKind, Manifest, StoredObject, TableEntry
from orchestrator.families.backup.stream import BackupError, Reporter, download_decompressed
from orchestrator.families.postgres.client import ServerConfig, connect, describe, libpq_env
from orchestrator.families.postgres.tools import find_tool
from orchestrator.objectstore.base import ObjectStore

log = get_logger(__name__)
SCRATCH_PREFIX = "fluxora_verify_"
SCRATCH_DATABASE = "postgres-database"  # the leftover kind of a scratch database
_MAX_LISTED_PROBLEMS = 20


class RefusedTargetError(BackupError):
    pass


@dataclass(frozen=True, kw_only=True)
class RestoreJob:
    env: str
    manifest: Manifest
    store: ObjectStore
    target: ServerConfig
    target_dbname: str
    production: Sequence[tuple[str, ServerConfig]]  # (name, server) of production databases
    settings: BackupConfig
    scratch_dir: Path
    leftovers: LeftoverLedger
    job_id: str | None
    keep: bool = False

    def scratch(self, kind: str, **data: Any) -> AbstractContextManager[Leftover]:
        """Something this restore creates, on record while it exists (see core.leftovers)."""
        return self.leftovers.holding(kind, self.job_id, **data)


@dataclass(frozen=True)
class RestoreOutcome:
    backup_id: str
    target: str
    rto_seconds: float
    rpo_seconds: float
    verify_seconds: float
    restored_bytes: int
    tables_checked: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def scratch_dbname(backup_id: str) -> str:
    return (SCRATCH_PREFIX + backup_id.replace("-", "_").lower())[:63]


def plan_restore(job: RestoreJob) -> dict[str, Any]:
    return {
        "backup_id": job.manifest.backup_id,
        "kind": job.manifest.kind.value,
        "objects": [obj.key for obj in job.manifest.objects],
        "target": describe(job.target, job.target_dbname),
        "jobs": job.settings.restore_jobs,
        "keep": job.keep,
    }


def check_target(job: RestoreJob, facts: ServerFacts) -> None:
    """Raise RefusedTargetError when restoring into the target could touch real data."""
    target = describe(job.target, job.target_dbname)
    source = job.manifest.source
    same_server = facts.system_identifier == source.system_identifier
    if same_server and job.target_dbname == source.dbname:
        raise RefusedTargetError(f"refusing to restore into {target}: it is the source database")
    for name, server in job.production:
        if (server.host, server.port) == (job.target.host, job.target.port):
            raise RefusedTargetError(
                f"refusing to restore into {target}: it is the server of production database "
                f"{name}; set backup.restore_targets.{job.env} to a scratch server"
            )
    if facts.in_recovery:
        raise RefusedTargetError(f"refusing to restore into {target}: it is a standby")
    if not job.target_dbname.startswith(SCRATCH_PREFIX):
        raise RefusedTargetError(
            f"refusing to restore into {target}: restore-verify only creates and replaces "
            f"scratch databases named {SCRATCH_PREFIX}*"
        )


def restore_verify(job: RestoreJob, reporter: Reporter) -> RestoreOutcome:
    started = time.monotonic()
    if job.manifest.kind is BackupKind.PHYSICAL:
        return _physical(job, reporter, started)
    with connect(job.target, "postgres") as admin:
        check_target(job, server_facts(admin))
    with job.scratch(SCRATCH_DATABASE, env=job.env, database=job.manifest.source.database,
                     dbname=job.target_dbname):  # fmt: skip
        with connect(job.target, "postgres") as admin:
            _recreate(admin, job.target_dbname)
        try:
            restored = _restore_logical(job, reporter)
            rto = time.monotonic() - started
            verify_started = time.monotonic()
            problems = _compare_tables(job)
            return _outcome(job, rto, time.monotonic() - verify_started, restored, problems)
        finally:
            if not job.keep:
                with connect(job.target, "postgres") as admin:
                    _drop(admin, job.target_dbname)


def _outcome(
    job: RestoreJob, rto: float, verify_seconds: float, restored: int, problems: list[str]
) -> RestoreOutcome:
    return RestoreOutcome(
        backup_id=job.manifest.backup_id,
        target=describe(job.target, job.target_dbname),
        rto_seconds=rto,
        rpo_seconds=(datetime.now(UTC) - job.manifest.consistent_at).total_seconds(),
        verify_seconds=verify_seconds,
        restored_bytes=restored,
        tables_checked=len(job.manifest.tables or {}),
        problems=problems,
    )


def _recreate(admin: psycopg.Connection[tuple[object, ...]], dbname: str) -> None:
    _drop(admin, dbname)  # a leftover of an interrupted verification
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))


def drop_scratch_database(target: ServerConfig, dbname: str) -> str:
    """Drop a scratch database a dead job worker left (never a database of another name)."""
    if not dbname.startswith(SCRATCH_PREFIX):
        raise RefusedTargetError(f"refusing to drop {dbname}: not a scratch database")
    with connect(target, "postgres") as admin:
        _drop(admin, dbname)
    return f"dropped scratch database {describe(target, dbname)}"


def _drop(admin: psycopg.Connection[tuple[object, ...]], dbname: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def _restore_logical(job: RestoreJob, reporter: Reporter) -> int:
    """Download (checksummed) into a scratch file, then pg_restore -j: parallel restore needs a
    seekable archive. The file is removed whatever happens."""
    (obj,) = job.manifest.objects
    job.scratch_dir.mkdir(parents=True, exist_ok=True)
    archive = job.scratch_dir / f"{job.manifest.backup_id}.dump"
    with job.scratch(PATH, path=str(archive)):
        return _download_and_restore(job, obj, archive, reporter)


def _download_and_restore(
    job: RestoreJob, obj: StoredObject, archive: Path, reporter: Reporter
) -> int:
    try:
        with archive.open("wb") as handle:
            download = download_decompressed(
                job.store, obj.key, handle.write,
                expected_sha256=obj.sha256, expected_size=obj.size, reporter=reporter,
            )  # fmt: skip
        reporter.stopping("restore")
        argv = [
            find_tool("pg_restore", job.settings.pg_bin_dir), "--no-owner", "--no-acl",
            "--exit-on-error", "-j", str(_parallel_jobs(archive, job.settings.restore_jobs)),
            "-d", job.target_dbname, str(archive),
        ]  # fmt: skip
        _run(reporter, argv, libpq_env(job.target, job.target_dbname), "pg_restore")
    finally:
        archive.unlink(missing_ok=True)
    return download.raw_bytes


def _parallel_jobs(archive: Path, jobs: int) -> int:
    """`jobs` once the archive has its data offsets (see archive.py), else 1."""
    if jobs == 1:
        return 1
    try:
        add_data_offsets(archive)
    except (ArchiveFormatError, OSError) as exc:
        log.warning("cannot add data offsets; restoring with one job", error=str(exc))
        return 1
    return jobs


def _run(reporter: Reporter, argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = reporter.children.run(argv, env={**os.environ, **env})
    except ChildStartError as exc:
        raise BackupError(str(exc)) from exc
    reporter.stopping(what)
    if result.returncode != 0:
        tail = "; ".join(result.stderr.strip().splitlines()[-5:]) or "(no output)"
        raise BackupError(f"{what} failed (exit {result.returncode}): {tail}")


def _compare_tables(job: RestoreJob) -> list[str]:
    expected = job.manifest.tables or {}
    methods = {name: entry.method for name, entry in expected.items()}
    actual = parallel_table_stats(job.target, job.target_dbname, job.settings.restore_jobs, methods)
    return compare_tables(expected, actual)


def compare_tables(expected: dict[str, TableEntry], actual: dict[str, TableEntry]) -> list[str]:
    """Differences between the manifest's tables and the restored ones, one line each."""
    problems = [
        f"table {name} is missing after restore" for name in sorted(expected - actual.keys())
    ]
    problems += [
        f"table {name} is not in the manifest" for name in sorted(actual - expected.keys())
    ]
    for name in sorted(expected.keys() & actual.keys()):
        want, got = expected[name], actual[name]
        if want.rows != got.rows:
            problems.append(f"table {name}: {got.rows} rows restored, manifest says {want.rows}")
        elif want.checksum != got.checksum:
            problems.append(
                f"table {name}: content checksum {got.checksum}, manifest says {want.checksum}"
            )
    if len(problems) > _MAX_LISTED_PROBLEMS:
        more = len(problems) - _MAX_LISTED_PROBLEMS
        problems = [*problems[:_MAX_LISTED_PROBLEMS], f"... and {more} more"]
    return problems


def _physical(job: RestoreJob, reporter: Reporter, started: float) -> RestoreOutcome:
    """Extract the base backup (streamed into tar) into a scratch directory and check it with
    pg_verifybackup: every file against the server's own backup manifest, and the WAL needed
    to reach consistency."""
    (obj,) = job.manifest.objects
    directory = job.scratch_dir / job.manifest.backup_id
    with job.scratch(PATH, path=str(directory)):
        return _extract_and_verify(job, obj, directory, reporter, started)


def _extract_and_verify(
    job: RestoreJob, obj: StoredObject, directory: Path, reporter: Reporter, started: float
) -> RestoreOutcome:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        restored = _extract(job, obj, directory, reporter)
        rto = time.monotonic() - started
        verify_started = time.monotonic()
        tool = find_tool("pg_verifybackup", job.settings.pg_bin_dir)
        _run(reporter, [tool, "--quiet", str(directory)], {}, "pg_verifybackup")
        return _outcome(job, rto, time.monotonic() - verify_started, restored, [])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _extract(job: RestoreJob, obj: StoredObject, directory: Path, reporter: Reporter) -> int:
    argv = ["tar", "-x", "-f", "-", "-C", str(directory)]
    with reporter.children.started(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as tar:
        assert tar.stdin is not None
        download = download_decompressed(
            job.store, obj.key, tar.stdin.write,
            expected_sha256=obj.sha256, expected_size=obj.size, reporter=reporter,
        )  # fmt: skip
        tar.stdin.close()
        assert tar.stderr is not None
        stderr = tar.stderr.read().decode(errors="replace").strip()
        returncode = tar.wait()
    if returncode != 0:
        raise BackupError(f"tar failed (exit {returncode}): {stderr}")
    return download.raw_bytes
