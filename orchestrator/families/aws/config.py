"""The `aws:` section of the config file (regions and endpoint; the families that use AWS
add their own keys in their own sections)."""

from __future__ import annotations

from orchestrator.core.config import Section


class AwsConfig(Section):
    region: str = "eu-west-1"
    dr_region: str | None = None
    endpoint_url: str | None = None  # default: AWS_ENDPOINT_URL, else AWS itself
