"""Take a backup: stream it into the object store, record its statistics, write the manifest
last, then copy everything to the DR store."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import zstandard

from orchestrator import __version__
from orchestrator.families.backup.catalog import backup_prefix, manifest_key
from orchestrator.families.backup.config import BackupConfig, DatabaseConfig
from orchestrator.families.backup.database import (
    export_snapshot,
    pin_text_settings,
    server_facts,
    table_stats,
)
from orchestrator.families.backup.manifest import (
    BackupKind,
    Manifest,
    Source,
    StoredObject,
    TableEntry,
    new_backup_id,
)
from orchestrator.families.backup.stream import BackupError, Reporter, stream_command
from orchestrator.families.postgres.client import connect, describe, libpq_env
from orchestrator.families.postgres.tools import find_tool, tool_version
from orchestrator.objectstore.base import ObjectInfo, ObjectStore, ObjectStoreError

DATA_OBJECT = {BackupKind.LOGICAL: "data.dump.zst", BackupKind.PHYSICAL: "base.tar.zst"}
_END_LSN = re.compile(r"write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)")


@dataclass(frozen=True, kw_only=True)
class BackupJob:
    env: str
    database: str
    db: DatabaseConfig
    kind: BackupKind
    store: ObjectStore
    dr_store: ObjectStore | None
    settings: BackupConfig

    def tool(self, name: str) -> str:
        return find_tool(name, self.settings.pg_bin_dir)

    def command(self, snapshot: str = "SNAPSHOT", label: str = "") -> list[str]:
        if self.kind is BackupKind.LOGICAL:
            # -Z1, not -Z0: an archive written to a pipe has no data offsets, and pg_restore -j
            # then skips over other tables' data chunk by chunk; uncompressed, a chunk is a
            # row (millions of reads), gzipped a chunk is 4 kB. Level 1 keeps pg_dump fast.
            return [self.tool("pg_dump"), "-Fc", "-Z1", f"--snapshot={snapshot}"]
        return [
            self.tool("pg_basebackup"), "-D", "-", "-F", "tar", "-X", "fetch", "-c", "fast",
            "-v", "-l", label or "fluxora backup",
        ]  # fmt: skip


@dataclass(frozen=True)
class _Taken:
    objects: list[StoredObject]
    consistent_at: datetime
    consistent_lsn: str
    tables: dict[str, TableEntry] | None


def plan_backup(job: BackupJob) -> dict[str, Any]:
    """What a backup would do, for dry runs; touches nothing."""
    return {
        "source": describe(job.db, job.db.dbname),
        "kind": job.kind.value,
        "command": " ".join(job.command()),
        "store": job.store.name,
        "prefix": backup_prefix(job.env, job.database, "<backup id>"),
        "dr_store": job.dr_store.name if job.dr_store else None,
    }


def run_backup(job: BackupJob, reporter: Reporter) -> Manifest:
    """Take one backup; the manifest is written only after every data object is committed."""
    started_at = datetime.now(UTC)
    backup_id = new_backup_id(started_at, job.kind)
    prefix = backup_prefix(job.env, job.database, backup_id)
    with connect(job.db, job.db.dbname, autocommit=True) as conn:
        facts = server_facts(conn)
        if job.kind is BackupKind.LOGICAL:
            taken = _logical(job, conn, prefix, reporter)
        else:
            taken = _physical(job, prefix, backup_id, reporter)
    manifest = Manifest(
        backup_id=backup_id,
        kind=job.kind,
        source=Source(
            env=job.env,
            database=job.database,
            address=job.db.address(),
            dbname=job.db.dbname,
            system_identifier=facts.system_identifier,
            server_version=facts.server_version,
        ),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        consistent_at=taken.consistent_at,
        consistent_lsn=taken.consistent_lsn,
        objects=taken.objects,
        tables=taken.tables,
        tools=_tool_versions(job),
    )
    try:
        job.store.put_bytes(manifest_key(manifest), manifest.to_json())
    except ObjectStoreError as exc:
        raise BackupError(f"data stored but the manifest could not be written: {exc}") from exc
    return manifest


def _stored(info: ObjectInfo, raw_size: int) -> StoredObject:
    assert info.sha256 is not None  # a writer always knows it
    return StoredObject(key=info.key, size=info.size, sha256=info.sha256, raw_size=raw_size)


def _logical(
    job: BackupJob, conn: psycopg.Connection[tuple[object, ...]], prefix: str, reporter: Reporter
) -> _Taken:
    pin_text_settings(conn)
    snapshot = export_snapshot(conn)
    env = libpq_env(job.db, job.db.dbname)
    metadata = {"backup-kind": job.kind.value, "database": job.database}
    # The statistics run in the exporting transaction, i.e. in the dump's snapshot, while
    # pg_dump streams: on another core, so they cost the backup little wall time.
    with ThreadPoolExecutor(1, thread_name_prefix="table-stats") as pool:
        stats = pool.submit(table_stats, conn)
        try:
            with job.store.open_writer(prefix + DATA_OBJECT[job.kind], metadata) as writer:
                streamed = stream_command(
                    job.command(snapshot.id), env, writer,
                    level=job.settings.compression_level, reporter=reporter,
                )  # fmt: skip
                tables = _result(stats)
                info = writer.commit()
        except BaseException:
            conn.cancel_safe()
            raise
    conn.execute("COMMIT")
    return _Taken(
        objects=[_stored(info, streamed.raw_bytes)],
        consistent_at=snapshot.taken_at,
        consistent_lsn=snapshot.lsn,
        tables=tables,
    )


def _result(stats: Any) -> Any:
    try:
        return stats.result()
    except psycopg.Error as exc:
        raise BackupError(f"table statistics failed: {exc}") from exc


def _physical(job: BackupJob, prefix: str, backup_id: str, reporter: Reporter) -> _Taken:
    env = libpq_env(job.db, job.db.dbname)
    metadata = {"backup-kind": job.kind.value, "database": job.database}
    with job.store.open_writer(prefix + DATA_OBJECT[job.kind], metadata) as writer:
        streamed = stream_command(
            job.command(label=f"fluxora {backup_id}"), env, writer,
            level=job.settings.compression_level, reporter=reporter,
        )  # fmt: skip
        info = writer.commit()
    end = _END_LSN.search(streamed.stderr)
    if end is None:
        raise BackupError(f"pg_basebackup did not report its end point: {streamed.stderr}")
    return _Taken(
        objects=[_stored(info, streamed.raw_bytes)],
        consistent_at=datetime.now(UTC),
        consistent_lsn=end.group(1),
        tables=None,
    )


def _tool_versions(job: BackupJob) -> dict[str, str]:
    tool = "pg_dump" if job.kind is BackupKind.LOGICAL else "pg_basebackup"
    return {
        tool: tool_version(job.tool(tool)),
        "zstandard": zstandard.__version__,
        "fluxora-orch": __version__,
    }


def replicate(manifest: Manifest, store: ObjectStore, dr_store: ObjectStore) -> None:
    """Copy a backup to the DR store: data objects first, the manifest last."""
    for obj in manifest.objects:
        store.copy_to(obj.key, dr_store)
    store.copy_to(manifest_key(manifest), dr_store)
