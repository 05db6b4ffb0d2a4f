"""One contract, every object store: the local directory and S3 through the moto server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from orchestrator.core.retry import RetrySettings
from orchestrator.objectstore.base import InvalidKeyError, ObjectNotFoundError, ObjectStore
from orchestrator.objectstore.local import LocalObjectStore
from orchestrator.objectstore.s3 import MiB, S3ObjectStore, S3Settings
from tests.harness.moto import DR_REGION, REGION
from tests.harness.processes import ServerProcess
from tests.harness.s3 import create_bucket, create_dr_bucket

pytestmark = pytest.mark.integration

FAST_RETRY = RetrySettings(attempts=2, wait_seconds=0.01, backoff=2)


def s3_store(bucket: str, region: str = REGION, prefix: str = "fluxora") -> S3ObjectStore:
    return S3ObjectStore(
        S3Settings(bucket=bucket, region=region, prefix=prefix, part_size=5 * MiB, retry=FAST_RETRY)
    )


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_server: ServerProcess, aws_reset: None
) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "store")
    return s3_store(create_bucket())


def chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """Incompressible, reproducible bytes."""
    for offset in range(0, total, size):
        seed = hashlib.sha256(offset.to_bytes(8, "big")).digest()
        yield (seed * (size // 32 + 1))[: min(size, total - offset)]


def test_put_then_get_head_and_list(store: ObjectStore) -> None:
    data = b"".join(chunks(3000))
    info = store.put("a/b/one", [data[:1000], data[1000:]], {"kind": "logical"})
    assert info.size == 3000
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_bytes("a/b/one") == data
    head = store.head("a/b/one")
    assert (head.size, head.sha256, dict(head.metadata)) == (3000, info.sha256, {"kind": "logical"})
    store.put_bytes("a/c/two", b"x")
    store.put_bytes("z", b"y")
    assert [o.key for o in store.list_objects("a/")] == ["a/b/one", "a/c/two"]
    assert [o.size for o in store.list_objects("a/")] == [3000, 1]


def test_multipart_stream_is_checksummed_end_to_end(store: ObjectStore) -> None:
    expected = hashlib.sha256()
    with store.open_writer("big") as writer:
        for chunk in chunks(12 * MiB + 123):
            expected.update(chunk)
            writer.write(chunk)
        info = writer.commit()
    assert info.size == 12 * MiB + 123
    assert store.head("big").sha256 == expected.hexdigest()
    read = hashlib.sha256()
    for chunk in store.get("big"):
        read.update(chunk)
    assert read.hexdigest() == expected.hexdigest()


def test_uncommitted_object_is_invisible_and_listed_as_incomplete(store: ObjectStore) -> None:
    writer = store.open_writer("backups/x/data")
    for chunk in chunks(6 * MiB):
        writer.write(chunk)  # more than a part: an S3 multipart upload is under way
    assert list(store.list_objects("backups/")) == []
    with pytest.raises(ObjectNotFoundError):
        store.head("backups/x/data")
    (upload,) = store.incomplete_uploads("backups/")
    assert upload.key == "backups/x/data"
    store.abort_upload(upload)
    assert store.incomplete_uploads("backups/") == []
    assert list(store.list_objects("backups/")) == []


def test_exception_in_writer_block_aborts(store: ObjectStore) -> None:
    def source_dies() -> None:
        with store.open_writer("k") as writer:
            writer.write(b"partial")
            raise RuntimeError("source died")

    with pytest.raises(RuntimeError):
        source_dies()
    assert store.incomplete_uploads() == []
    assert list(store.list_objects()) == []


def test_missing_keys_and_bad_keys(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError, match="no object 'nope'"):
        store.head("nope")
    with pytest.raises(ObjectNotFoundError):
        store.get("nope")
    store.delete("nope")  # idempotent
    for bad in ("", "../etc/passwd", "a//b", ".hidden", "a/../b"):
        with pytest.raises(InvalidKeyError):
            store.put_bytes(bad, b"x")


def test_delete_removes_object(store: ObjectStore) -> None:
    store.put_bytes("gone", b"x")
    store.delete("gone")
    assert list(store.list_objects()) == []
    with pytest.raises(ObjectNotFoundError):
        store.head("gone")


def test_copy_to_dr_bucket_in_another_region(store: ObjectStore) -> None:
    dr = s3_store(create_dr_bucket(), region=DR_REGION, prefix="")
    data = b"".join(chunks(9 * MiB))
    source = store.put("backups/copy-me", [data], {"database": "app"})
    copied = store.copy_to("backups/copy-me", dr)
    assert (copied.size, copied.sha256) == (source.size, source.sha256)
    assert dict(dr.head("backups/copy-me").metadata) == {"database": "app"}
    assert dr.read_bytes("backups/copy-me") == data


def test_s3_objects_are_encrypted_server_side(moto_server: ServerProcess, aws_reset: None) -> None:
    bucket = create_bucket()
    store = s3_store(bucket)
    store.put_bytes("enc", b"secret-ish")
    store.put("enc-multi", chunks(11 * MiB))
    client = boto3.client("s3")
    for key in ("enc", "enc-multi"):
        head = client.head_object(Bucket=bucket, Key=f"fluxora/{key}")
        assert head["ServerSideEncryption"] == "AES256"


def test_local_writes_leave_no_partial_object_on_disk(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    writer = store.open_writer("k")
    writer.write(b"half")
    assert not (tmp_path / "store" / "objects" / "k").exists()
    writer.commit()
    assert (tmp_path / "store" / "objects" / "k").read_bytes() == b"half"
    assert os.listdir(tmp_path / "store" / "incomplete") == []


def test_copy_from_s3_to_local_is_streamed(
    tmp_path: Path, moto_server: ServerProcess, aws_reset: None
) -> None:
    source = s3_store(create_bucket())
    source.put("k", chunks(6 * MiB))
    target = LocalObjectStore(tmp_path / "store")
    copied = source.copy_to("k", target)
    assert copied.sha256 == source.head("k").sha256
