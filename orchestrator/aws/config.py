"""The `aws:` section of the config file (regions and endpoint; the families that use AWS
add their own keys in their own sections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AwsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = "eu-west-1"
    dr_region: str | None = None
    endpoint_url: str | None = None  # default: AWS_ENDPOINT_URL, else AWS itself
