"""The AWS family: the `aws` resource (boto3 clients for the environment) that every action
reaching AWS uses through `ctx.resource(AWS)`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from orchestrator.core.resources import Resources
from orchestrator.families.aws.clients import AWS, AwsClients
from orchestrator.families.aws.config import AwsConfig
from orchestrator.families.base import Family, ResourceDeps


class AwsSettings(Protocol):
    @property
    def aws(self) -> AwsConfig: ...


class AwsFamily(Family[AwsSettings]):
    name = "aws"

    def build_resources(self, deps: ResourceDeps[AwsSettings], env: str) -> Resources:
        return Resources().add(AWS, AwsClients(deps.config.aws))

    def missing(
        self, settings: AwsSettings, env: str, action: str, params: Mapping[str, Any]
    ) -> Sequence[str]:
        """The DR region's groups are reached in `aws.dr_region`."""
        if action == "aws.asg.set_dr_capacity" and settings.aws.dr_region is None:
            return ("aws.dr_region",)
        return ()
