"""The object store contract: streamed writes that become visible only on commit, streamed
reads, listing, deletion, heads with checksums, incomplete-upload housekeeping and copies.

A writer computes the SHA-256 and size of what it stores while it streams, so callers never
hash twice; an object is listed only once its writer committed, so an interrupted upload is
never mistaken for a complete one: it shows up in `incomplete_uploads` until it is aborted.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from orchestrator.core.errors import FluxoraError

CHUNK_SIZE = 1 << 20
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+:-]*$")


class ObjectStoreError(FluxoraError):
    """An object store operation failed; the message names the store and the key."""


class ObjectNotFoundError(ObjectStoreError, KeyError):
    def __init__(self, store: str, key: str) -> None:
        self.key = key
        super().__init__(f"{store}: no object {key!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidKeyError(ObjectStoreError, ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"invalid object key {key!r}: use '/'-separated segments of letters, digits and "
            "_.=+:- that do not start with '.'"
        )


def check_key(key: str) -> str:
    if not key or not all(_KEY_SEGMENT.match(segment) for segment in key.split("/")):
        raise InvalidKeyError(key)
    return key


@dataclass(frozen=True, kw_only=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    sha256: str | None = None  # None where the store cannot say without reading (listings)
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class IncompleteUpload:
    """An upload that was started and neither committed nor aborted (e.g. its process died)."""

    key: str
    upload_id: str
    initiated: datetime


class ObjectWriter(ABC):
    """Receives an object's bytes in order; nothing is visible under `key` until `commit`.

    Used as a context manager, it aborts when the block raises before a commit."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._closed = False

    def write(self, data: bytes | memoryview) -> None:
        if self._closed:
            raise ObjectStoreError(f"writer for {self.key!r} is already closed")
        self._sha256.update(data)
        self.size += len(data)
        self._write(data)

    def commit(self) -> ObjectInfo:
        self._closed = True
        return self._commit(self._sha256.hexdigest())

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._abort()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()

    @abstractmethod
    def _write(self, data: bytes | memoryview) -> None: ...

    @abstractmethod
    def _commit(self, sha256: str) -> ObjectInfo: ...

    @abstractmethod
    def _abort(self) -> None: ...


class ObjectStore(ABC):
    """Where backups live. Keys are '/'-separated; `name` identifies the store in messages."""

    name: str

    @abstractmethod
    def open_writer(self, key: str, metadata: Mapping[str, str] | None = None) -> ObjectWriter:
        """Start a streamed upload of `key`."""

    @abstractmethod
    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The object's bytes in chunks; ObjectNotFoundError when it does not exist."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Size, SHA-256 and metadata of `key`; ObjectNotFoundError when it does not exist."""

    @abstractmethod
    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Committed objects whose key starts with `prefix`, in key order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    @abstractmethod
    def incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        """Uploads under `prefix` that were started and never committed or aborted."""

    @abstractmethod
    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Discard an incomplete upload and the storage it holds."""

    def put(
        self, key: str, chunks: Iterable[bytes], metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        with self.open_writer(key, metadata) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        return self.put(key, [data], metadata)

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.get(key))

    def copy_to(self, key: str, target: ObjectStore) -> ObjectInfo:
        """Copy `key` into `target` under the same key, streamed; the copy is checked against
        the source's checksum before it is reported done."""
        source = self.head(key)
        copied = target.put(key, self.get(key), source.metadata)
        if source.sha256 is not None and copied.sha256 != source.sha256:
            target.delete(key)
            raise ObjectStoreError(
                f"copy of {key!r} from {self.name} to {target.name}: sha256 {copied.sha256} "
                f"does not match the source's {source.sha256}"
            )
        return copied
