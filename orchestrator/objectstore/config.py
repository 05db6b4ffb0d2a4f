"""Configuration of the object store (`objectstore:` in the config file) and its builder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from orchestrator.core.config import Section
from orchestrator.core.resources import ResourceKey
from orchestrator.core.retry import RetrySettings
from orchestrator.objectstore.base import ObjectStore
from orchestrator.objectstore.local import LocalObjectStore
from orchestrator.objectstore.s3 import MiB, S3ObjectStore, S3Settings


class RetryConfig(Section):
    attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=10.0, ge=0)


class DrConfig(Section):
    """Where each successful backup is copied: a bucket in another region."""

    bucket: str = Field(min_length=3)
    region: str
    prefix: str = ""


class ObjectStoreConfig(Section):
    kind: Literal["local", "s3"] = "local"
    path: Path | None = None  # local: default <data_dir>/objects
    bucket: str | None = None
    region: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None  # default: AWS_ENDPOINT_URL or AWS
    sse: Literal["AES256", "aws:kms"] | None = "AES256"
    kms_key_id: str | None = None
    part_size_mib: int = Field(default=8, ge=5, le=5120)
    retry: RetryConfig = RetryConfig()
    dr: DrConfig | None = None

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Self:
        if self.kind == "s3" and not self.bucket:
            raise ValueError("kind s3 needs a bucket")
        if self.kind == "local" and self.bucket:
            raise ValueError("bucket is only used with kind s3")
        return self

    def retry_settings(self) -> RetrySettings:
        """Waits double from `backoff_seconds` up to `max_backoff_seconds`."""
        return RetrySettings(
            attempts=self.retry.attempts,
            wait_seconds=self.retry.backoff_seconds,
            backoff=2.0,
            max_wait_seconds=self.retry.max_backoff_seconds,
        )

    def s3_settings(self, bucket: str, region: str | None, prefix: str) -> S3Settings:
        return S3Settings(
            bucket=bucket,
            region=region,
            prefix=prefix,
            endpoint_url=self.endpoint_url,
            sse=self.sse,
            kms_key_id=self.kms_key_id,
            part_size=self.part_size_mib * MiB,
            retry=self.retry_settings(),
        )


def build_object_store(config: ObjectStoreConfig, data_dir: Path) -> ObjectStore:
    if config.kind == "s3":
        assert config.bucket is not None  # checked by the model
        return S3ObjectStore(config.s3_settings(config.bucket, config.region, config.prefix))
    return LocalObjectStore(config.path or data_dir / "objects")


def build_dr_store(config: ObjectStoreConfig) -> ObjectStore | None:
    """The cross-region copy target, or None when no DR bucket is configured."""
    if config.dr is None:
        return None
    return S3ObjectStore(config.s3_settings(config.dr.bucket, config.dr.region, config.dr.prefix))


OBJECTSTORE = ResourceKey[ObjectStore]("objectstore")
DR_OBJECTSTORE = ResourceKey[ObjectStore]("dr_objectstore")
"""Present when a DR bucket is configured."""


class ObjectStores:
    """A process's configured object stores, each built once, when first asked for (a
    failure to build is the asker's error, and the next ask tries again)."""

    def __init__(self, config: ObjectStoreConfig, data_dir: Path) -> None:
        self._config = config
        self._data_dir = data_dir
        self._primary: ObjectStore | None = None
        self._dr: ObjectStore | None = None

    def primary(self) -> ObjectStore:
        if self._primary is None:
            self._primary = build_object_store(self._config, self._data_dir)
        return self._primary

    def dr(self) -> ObjectStore | None:
        """The DR region's copy target; None when no DR bucket is configured."""
        if self._dr is None:
            self._dr = build_dr_store(self._config)
        return self._dr
