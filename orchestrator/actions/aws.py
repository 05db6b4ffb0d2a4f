"""The `aws` resource (boto3 clients for the environment) that every `aws.*` action family
uses through `ctx.resource("aws")`. Its actions live in their own families (aws_asg,
aws_route53): this module only builds the shared resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.aws.clients import AwsClients

if TYPE_CHECKING:
    from orchestrator.config import Config


def build_resources(config: Config, env: str) -> dict[str, Any]:
    return {"aws": AwsClients(config.aws)}
