"""Buckets on the moto server for object store tests."""

from __future__ import annotations

import uuid

import boto3

from tests.harness.moto import DR_REGION, REGION


def create_bucket(region: str = REGION, name: str | None = None) -> str:
    bucket = name or f"fxt-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    return bucket


def create_dr_bucket() -> str:
    return create_bucket(DR_REGION)
