"""S3 (boto3) as object store: server-side encryption, streamed multipart uploads whose part
size grows so that a stream of unknown size never needs more than 10,000 parts, and bounded
retries with backoff on transient errors (each attempt logged).

Memory stays bounded by the part size: one part fills while the previous one uploads in a
background thread. The SHA-256 of a multipart object is only known at the end, so it is stored
as the object tag `sha256` after completion (single-part objects get it with the upload).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from orchestrator.core.logs import get_logger
from orchestrator.objectstore.base import (
    CHUNK_SIZE,
    IncompleteUpload,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectWriter,
    check_key,
)
from orchestrator.objectstore.retry import RetriesExhaustedError, RetrySettings, call_with_retries

log = get_logger(__name__)
T = TypeVar("T")

MiB = 1 << 20
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
PARTS_PER_STEP = 1_000  # the part size doubles after every 1,000 parts
_TRANSIENT_CODES = {
    "InternalError", "RequestTimeout", "RequestTimeTooSkewed", "ServiceUnavailable", "SlowDown",
    "Throttling", "ThrottlingException",
}  # fmt: skip
_QUEUE_POLL_SECONDS = 0.2


def part_size_for(part_number: int, base: int) -> int:
    """Size of part `part_number` (1-based): `base`, doubled every 1,000 parts, capped at S3's
    5 GiB. With the 8 MiB default the 10,000 parts hold more than S3's 5 TiB object limit."""
    return int(min(MAX_PART_SIZE, base * 2 ** ((part_number - 1) // PARTS_PER_STEP)))


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True  # refused, closed, reset, timed out: the endpoint may come back
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES or status >= 500
    return False


def _not_found(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


@dataclass(frozen=True, kw_only=True)
class S3Settings:
    bucket: str
    region: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    sse: str | None = "AES256"
    kms_key_id: str | None = None
    part_size: int = 8 * MiB
    retry: RetrySettings = field(default_factory=RetrySettings)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


class S3Writer(ObjectWriter):
    def __init__(self, store: S3ObjectStore, key: str, metadata: Mapping[str, str]) -> None:
        super().__init__(key)
        self._store = store
        self._metadata = dict(metadata)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._next_part = 1
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=1)
        self._uploader: threading.Thread | None = None
        self._error: BaseException | None = None

    def _write(self, data: bytes | memoryview) -> None:
        self._raise_if_failed()
        self._buffer += data
        while len(self._buffer) >= (size := part_size_for(self._next_part, self._part_size)):
            part = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._send(part)

    @property
    def _part_size(self) -> int:
        return self._store.settings.part_size

    def _send(self, part: bytes) -> None:
        if self._next_part > MAX_PARTS:
            raise ObjectStoreError(f"{self._store.name}: {self.key!r} needs more than 10,000 parts")
        if self._upload_id is None:
            self._start_multipart()
        item = (self._next_part, part)
        self._next_part += 1
        while True:  # never block forever on a dead uploader
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_QUEUE_POLL_SECONDS)
            except queue.Full:
                continue
            return

    def _start_multipart(self) -> None:
        response = self._store.call(
            f"create multipart upload of {self.key}",
            lambda: self._store.client.create_multipart_upload(
                **self._store.target(self.key), Metadata=self._metadata, **self._store.sse_args
            ),
        )
        self._upload_id = response["UploadId"]
        self._uploader = threading.Thread(
            target=self._upload_parts, name=f"s3-upload-{self.key}", daemon=True
        )
        self._uploader.start()

    def _upload_parts(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain so the producer never blocks
            try:
                self._parts.append(self._upload_part(*item))
            except BaseException as exc:  # handed to the writing thread
                self._error = exc

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        response = self._store.call(
            f"upload of part {number} of {self.key}",
            lambda: self._store.client.upload_part(
                **self._store.target(self.key),
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            ),
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _finish_uploader(self) -> None:
        if self._uploader is not None:
            self._queue.put(None)
            self._uploader.join()
            self._uploader = None

    def _commit(self, sha256: str) -> ObjectInfo:
        if self._upload_id is None:
            return self._put_single(sha256)
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._finish_uploader()
        self._raise_if_failed()
        parts = sorted(self._parts, key=lambda part: part["PartNumber"])
        self._store.call(
            f"complete multipart upload of {self.key}",
            lambda: self._store.client.complete_multipart_upload(
                **self._store.target(self.key),
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )
        self._store.tag_sha256(self.key, sha256)
        return self._store.head(self.key)

    def _put_single(self, sha256: str) -> ObjectInfo:
        body = bytes(self._buffer)
        self._store.call(
            f"upload of {self.key}",
            lambda: self._store.client.put_object(
                **self._store.target(self.key),
                Body=body,
                Metadata=self._metadata,
                Tagging=f"sha256={sha256}",
                **self._store.sse_args,
            ),
        )
        return self._store.head(self.key)

    def _abort(self) -> None:
        self._error = self._error or ObjectStoreError("aborted")
        self._finish_uploader()
        if self._upload_id is not None:
            upload = IncompleteUpload(
                key=self.key, upload_id=self._upload_id, initiated=datetime.now(UTC)
            )
            try:
                self._store.abort_upload(upload)
            except ObjectStoreError as exc:  # prune aborts it later
                log.warning("could not abort upload", key=self.key, error=str(exc))


class S3ObjectStore(ObjectStore):
    def __init__(self, settings: S3Settings) -> None:
        if settings.part_size < MIN_PART_SIZE:
            raise ObjectStoreError(f"part size must be at least 5 MiB, got {settings.part_size}")
        self.settings = settings
        self.name = f"s3://{settings.bucket}/{settings.prefix}".rstrip("/")
        self.client = boto3.session.Session().client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=BotoConfig(
                retries={"total_max_attempts": 1},  # retries are ours, so each one is logged
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
            ),
        )
        self.sse_args: dict[str, str] = {}
        if settings.sse:
            self.sse_args["ServerSideEncryption"] = settings.sse
        if settings.kms_key_id:
            self.sse_args["SSEKMSKeyId"] = settings.kms_key_id

    def full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.settings.prefix.strip('/')}/{key}" if self.settings.prefix else key

    def target(self, key: str) -> dict[str, str]:
        return {"Bucket": self.settings.bucket, "Key": self.full_key(key)}

    def call(self, what: str, func: Callable[[], T]) -> T:
        """Run one S3 request with retries; failures become ObjectStoreError naming the store."""
        try:
            return call_with_retries(
                func, what=what, settings=self.settings.retry, is_transient=is_transient, log=log
            )
        except RetriesExhaustedError as exc:
            raise ObjectStoreError(f"{self.name}: {exc}") from exc
        except ClientError as exc:
            if _not_found(exc):
                raise
            raise ObjectStoreError(f"{self.name}: {what} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"{self.name}: {what} failed: {exc}") from exc

    def open_writer(self, key: str, metadata: Mapping[str, str] | None = None) -> ObjectWriter:
        return S3Writer(self, check_key(key), metadata or {})

    def tag_sha256(self, key: str, sha256: str) -> None:
        self.call(
            f"tagging of {key}",
            lambda: self.client.put_object_tagging(
                **self.target(key), Tagging={"TagSet": [{"Key": "sha256", "Value": sha256}]}
            ),
        )

    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        self.head(key)  # a missing key fails here, not at the first chunk
        return self._chunks(key, chunk_size)

    def _chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """Stream the object, resuming with a Range request after a transient error."""
        offset = 0
        for _ in range(self.settings.retry.attempts):
            body = self._open_range(key, offset)
            try:
                for chunk in body.iter_chunks(chunk_size):
                    offset += len(chunk)
                    yield chunk
            except BotoCoreError as exc:
                log.warning("download interrupted", key=key, offset=offset, error=str(exc))
                continue
            return
        raise ObjectStoreError(f"{self.name}: download of {key} kept failing at byte {offset}")

    def _open_range(self, key: str, offset: int) -> Any:
        return self.call(
            f"download of {key}",
            lambda: self.client.get_object(**self.target(key), Range=f"bytes={offset}-")["Body"],
        )

    def head(self, key: str) -> ObjectInfo:
        try:
            head = self.call(f"head of {key}", lambda: self.client.head_object(**self.target(key)))
            tags = self.call(
                f"tags of {key}", lambda: self.client.get_object_tagging(**self.target(key))
            )
        except ClientError as exc:
            raise ObjectNotFoundError(self.name, key) from exc
        tag_values = {tag["Key"]: tag["Value"] for tag in tags.get("TagSet", [])}
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            modified=head["LastModified"],
            sha256=tag_values.get("sha256"),
            metadata=head.get("Metadata", {}),
        )

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        strip = len(self.full_key("x")) - 1
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self.call(
            f"listing of {prefix or '/'}",
            lambda: list(
                paginator.paginate(Bucket=self.settings.bucket, Prefix=self._full_prefix(prefix))
            ),
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"][strip:], size=int(item["Size"]), modified=item["LastModified"]
                )

    def _full_prefix(self, prefix: str) -> str:
        base = self.settings.prefix.strip("/")
        return f"{base}/{prefix}" if base else prefix

    def delete(self, key: str) -> None:
        self.call(f"deletion of {key}", lambda: self.client.delete_object(**self.target(key)))

    def incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        strip = len(self.full_key("x")) - 1
        paginator = self.client.get_paginator("list_multipart_uploads")
        pages = self.call(
            "listing of incomplete uploads",
            lambda: list(
                paginator.paginate(Bucket=self.settings.bucket, Prefix=self._full_prefix(prefix))
            ),
        )
        return [
            IncompleteUpload(
                key=item["Key"][strip:], upload_id=item["UploadId"], initiated=item["Initiated"]
            )
            for page in pages
            for item in page.get("Uploads", [])
        ]

    def abort_upload(self, upload: IncompleteUpload) -> None:
        try:
            self.call(
                f"abort of upload {upload.upload_id} of {upload.key}",
                lambda: self.client.abort_multipart_upload(
                    **self.target(upload.key), UploadId=upload.upload_id
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise ObjectStoreError(f"{self.name}: abort of {upload.key} failed: {exc}") from exc

    def copy_to(self, key: str, target: ObjectStore) -> ObjectInfo:
        """S3 to S3 (e.g. the cross-region DR bucket) is a server-side copy; else streamed."""
        if not isinstance(target, S3ObjectStore):
            return super().copy_to(key, target)
        source = self.head(key)
        self.call(
            f"copy of {key} to {target.name}",
            lambda: target.client.copy(
                CopySource=self.target(key),
                **target.target(key),
                ExtraArgs={"Metadata": dict(source.metadata), "MetadataDirective": "REPLACE",
                           **target.sse_args},
                SourceClient=self.client,
            ),
        )  # fmt: skip
        if source.sha256:
            target.tag_sha256(key, source.sha256)
        copied = target.head(key)
        if copied.size != source.size:
            raise ObjectStoreError(
                f"copy of {key} to {target.name}: {copied.size} bytes, source has {source.size}"
            )
        return copied
