"""The AWS family: the `aws` resource (boto3 clients for the environment) that every action
reaching AWS uses through `ctx.resource("aws")`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.families.aws.clients import AwsClients
from orchestrator.families.aws.config import AwsConfig
from orchestrator.families.base import Family, ResourceDeps


class AwsSettings(Protocol):
    @property
    def aws(self) -> AwsConfig: ...


class AwsFamily(Family[AwsSettings]):
    name = "aws"

    def build_resources(self, deps: ResourceDeps[AwsSettings], env: str) -> Mapping[str, Any]:
        return {"aws": AwsClients(deps.config.aws)}
