"""The AWS side of scaling: read a group (desired capacity, bounds, instances warming up) and
set its desired capacity. Launch templates and tags are the group's own (the Salt AWS states
create them), so new instances get them from AWS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.core.errors import FluxoraError

AWS_ERRORS = (BotoCoreError, ClientError)


class GroupNotFoundError(FluxoraError, LookupError):
    def __init__(self, group: str, region: str) -> None:
        super().__init__(f"Auto Scaling group {group!r} does not exist in {region}")


@dataclass(frozen=True, kw_only=True)
class GroupState:
    name: str
    desired: int
    min: int
    max: int
    instances: int
    warming: int


class Groups:
    """One environment's Auto Scaling groups, through the shared `aws` resource's clients. A
    `region` of None is the environment's primary region."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws

    def read(
        self, group: str, region: str | None, warmup_seconds: float, now: datetime
    ) -> GroupState:
        found = self.aws.client("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[group]
        )["AutoScalingGroups"]
        if not found:
            raise GroupNotFoundError(group, region or str(self.aws.config.region))
        asg = found[0]
        instances = asg.get("Instances", [])
        return GroupState(
            name=group,
            desired=int(asg["DesiredCapacity"]),
            min=int(asg["MinSize"]),
            max=int(asg["MaxSize"]),
            instances=len(instances),
            warming=self._warming(instances, region, now - timedelta(seconds=warmup_seconds)),
        )

    def _warming(self, instances: list[dict[str, Any]], region: str | None, since: datetime) -> int:
        """Instances still starting (lifecycle Pending*) or launched after `since`."""
        pending = {i["InstanceId"] for i in instances if i["LifecycleState"].startswith("Pending")}
        ids = [i["InstanceId"] for i in instances]
        if not ids:
            return 0
        reservations = self.aws.client("ec2", region).describe_instances(InstanceIds=ids)[
            "Reservations"
        ]
        recent = {
            instance["InstanceId"]
            for reservation in reservations
            for instance in reservation["Instances"]
            if instance["LaunchTime"] > since
        }
        return len(pending | recent)

    def set_desired(self, group: str, region: str | None, capacity: int) -> None:
        # The orchestrator enforces cooldowns itself; AWS's would refuse a legitimate step.
        self.aws.client("autoscaling", region).set_desired_capacity(
            AutoScalingGroupName=group, DesiredCapacity=capacity, HonorCooldown=False
        )
