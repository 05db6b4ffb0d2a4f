"""The shared AWS resource: one client per (service, region), pointed at the configured endpoint."""

from __future__ import annotations

import pytest

from orchestrator.families.aws.clients import AwsClients
from orchestrator.families.aws.config import AwsConfig


def test_clients_are_cached_per_service_and_region() -> None:
    clients = AwsClients(AwsConfig(region="eu-west-1", endpoint_url="http://127.0.0.1:1"))
    first = clients.client("s3")
    assert clients.client("s3") is first
    assert clients.client("s3", "eu-central-1") is not first
    assert first.meta.region_name == "eu-west-1"
    assert first.meta.endpoint_url == "http://127.0.0.1:1"


def test_missing_dr_region_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"aws\.dr_region is not configured"):
        AwsClients(AwsConfig()).dr_region()
    assert AwsClients(AwsConfig(dr_region="eu-central-1")).dr_region() == "eu-central-1"
