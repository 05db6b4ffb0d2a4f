"""A local directory as object store: the embedded default, under the data directory.

Layout: `objects/<key>` holds committed objects, `meta/<key>.json` their size, SHA-256 and
metadata, `incomplete/<upload id>.{part,json}` uploads in progress. A writer streams into
`incomplete/`, fsyncs, and renames into `objects/` on commit, so a reader never sees a partial
object and a killed writer leaves only an incomplete upload behind.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from orchestrator.objectstore.base import (
    CHUNK_SIZE,
    IncompleteUpload,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectWriter,
    check_key,
)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


class LocalWriter(ObjectWriter):
    def __init__(self, store: LocalObjectStore, key: str, metadata: Mapping[str, str]) -> None:
        super().__init__(key)
        self._store = store
        self._metadata = dict(metadata)
        self._upload_id = uuid.uuid4().hex
        initiated = datetime.now(UTC).isoformat()
        _write_json_atomic(
            store.incomplete_path(self._upload_id, "json"), {"key": key, "initiated": initiated}
        )
        self._file: BinaryIO = store.incomplete_path(self._upload_id, "part").open("wb")

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)

    def _commit(self, sha256: str) -> ObjectInfo:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        meta = {"size": self.size, "sha256": sha256, "metadata": self._metadata}
        _write_json_atomic(self._store.meta_path(self.key), meta)
        target = self._store.object_path(self.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._store.incomplete_path(self._upload_id, "part").replace(target)
        _fsync_dir(target.parent)
        self._store.incomplete_path(self._upload_id, "json").unlink()
        return self._store.head(self.key)

    def _abort(self) -> None:
        self._file.close()
        self._store.abort_upload(
            IncompleteUpload(key=self.key, upload_id=self._upload_id, initiated=datetime.now(UTC))
        )


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"file://{root}"
        for part in ("objects", "meta", "incomplete"):
            (root / part).mkdir(parents=True, exist_ok=True)

    def object_path(self, key: str) -> Path:
        return self.root / "objects" / check_key(key)

    def meta_path(self, key: str) -> Path:
        return self.root / "meta" / f"{check_key(key)}.json"

    def incomplete_path(self, upload_id: str, suffix: str) -> Path:
        return self.root / "incomplete" / f"{upload_id}.{suffix}"

    def open_writer(self, key: str, metadata: Mapping[str, str] | None = None) -> ObjectWriter:
        return LocalWriter(self, check_key(key), metadata or {})

    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        try:
            handle = self.object_path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFoundError(self.name, key) from None
        return self._chunks(handle, chunk_size)

    @staticmethod
    def _chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def head(self, key: str) -> ObjectInfo:
        try:
            stat = self.object_path(key).stat()
        except FileNotFoundError:
            raise ObjectNotFoundError(self.name, key) from None
        try:
            meta = json.loads(self.meta_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            meta = {}
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            sha256=meta.get("sha256"),
            metadata=meta.get("metadata", {}),
        )

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        objects = self.root / "objects"
        keys = sorted(
            path.relative_to(objects).as_posix() for path in objects.rglob("*") if path.is_file()
        )
        for key in keys:
            if key.startswith(prefix):
                stat = (objects / key).stat()
                yield ObjectInfo(
                    key=key, size=stat.st_size, modified=datetime.fromtimestamp(stat.st_mtime, UTC)
                )

    def delete(self, key: str) -> None:
        self.object_path(key).unlink(missing_ok=True)
        self.meta_path(key).unlink(missing_ok=True)

    def incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        uploads = []
        for path in sorted((self.root / "incomplete").glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                continue  # committed or aborted while we looked
            if record["key"].startswith(prefix):
                uploads.append(
                    IncompleteUpload(
                        key=record["key"],
                        upload_id=path.stem,
                        initiated=datetime.fromisoformat(record["initiated"]),
                    )
                )
        return uploads

    def abort_upload(self, upload: IncompleteUpload) -> None:
        self.incomplete_path(upload.upload_id, "part").unlink(missing_ok=True)
        self.incomplete_path(upload.upload_id, "json").unlink(missing_ok=True)
