"""The manifest: what a backup is, written last. No manifest, no backup."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class BackupKind(enum.StrEnum):
    LOGICAL = "logical"  # pg_dump -Fc
    PHYSICAL = "physical"  # pg_basebackup tar


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Frozen):
    env: str
    database: str
    address: str
    dbname: str
    system_identifier: str
    server_version: str


class StoredObject(_Frozen):
    key: str
    size: int  # stored (compressed) bytes
    sha256: str  # of the stored bytes
    raw_size: int  # bytes the tool produced, before compression
    compression: str = "zstd"


class ChecksumMethod(enum.StrEnum):
    """How a table's rows are hashed; the same method is used again to verify."""

    RECORD = "record"  # hash_record_extended: per-column value hashes, fast
    TEXT = "text"  # hash of the row's text form: any column type


class TableEntry(_Frozen):
    rows: int
    checksum: str
    method: ChecksumMethod = ChecksumMethod.TEXT


class Manifest(_Frozen):
    format: int = 1
    backup_id: str
    kind: BackupKind
    source: Source
    started_at: datetime
    finished_at: datetime
    consistent_at: datetime  # the point in time the backup restores to
    consistent_lsn: str
    objects: list[StoredObject]
    # Per-table row counts and content checksums from the dump's own snapshot (logical only:
    # a physical backup's consistent point is reached by WAL replay, where no snapshot exists).
    tables: dict[str, TableEntry] | None = None
    tools: dict[str, str] = Field(default_factory=dict)

    @property
    def stored_size(self) -> int:
        return sum(obj.size for obj in self.objects)

    @property
    def raw_size(self) -> int:
        return sum(obj.raw_size for obj in self.objects)

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()


class Verification(_Frozen):
    """The outcome of the last restore-verify of a backup, stored beside its manifest."""

    backup_id: str
    ok: bool
    verified_at: datetime
    rto_seconds: float
    rpo_seconds: float
    problems: list[str] = Field(default_factory=list)


def new_backup_id(started_at: datetime, kind: BackupKind) -> str:
    """Sortable by time, unique: 20250101T020000Z-logical-1a2b3c."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{kind.value}-{secrets.token_hex(3)}"
