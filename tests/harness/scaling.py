"""Scaling tests: Auto Scaling groups in moto (launch template + group, as the Salt AWS states
make them), the shipped scaling rules and schedules read from pillar, a daemon config with test
policies, and an in-process action context on the same config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import yaml

from orchestrator.app.config import Config, load_config
from orchestrator.app.local import Local
from orchestrator.core.actions import ActionContext
from tests.harness.moto import REGION
from tests.harness.pillar import merged_pillar

SCALING_RUNBOOKS = ("scale-out", "scale-in", "scale-to")
TAGS = {"Project": "fluxora", "ManagedBy": "salt"}


def _staging(section: str) -> dict[str, Any]:
    return dict(merged_pillar("staging").get(section) or {})


def shipped_rules() -> list[dict[str, Any]]:
    """The scaling rules of staging's pillar, in the daemon's list form."""
    rules = _staging("rules")
    return [
        {"name": name, **rule} for name, rule in rules.items() if rule["run"] in SCALING_RUNBOOKS
    ]


def shipped_schedule(name: str, **changes: Any) -> dict[str, Any]:
    """A schedule of staging's pillar in the daemon's form (its tag is fluxora/schedule/<name>),
    with explicit changes a test cannot wait for (an interval instead of a daily cron)."""
    spec = dict(_staging("schedules")[name])
    if changes:
        spec.pop("cron", None)
        spec.pop("interval", None)
    return {"name": name, **spec, **changes}


def policy(env: str, **changes: Any) -> dict[str, Any]:
    """A test policy: small and quick unless a test says otherwise."""
    base = {
        "env": env,
        "min": 1,
        "max": 6,
        "desired": 2,
        "step_out": 2,
        "step_in": 1,
        "cooldown_seconds": 0,
        "warmup_seconds": 0,
    }
    return {**base, **changes}


def write_config(
    path: Path,
    *,
    env: str,
    groups: dict[str, dict[str, Any]],
    schedules: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Path:
    """A daemon config with the shipped scaling rules, the given policies and schedules; the
    runbooks are the shipped dr_runbooks/ and AWS is wherever AWS_ENDPOINT_URL points."""
    config = {
        "env": env,
        "rules": shipped_rules(),
        "schedules": schedules or [],
        "scaling": {"groups": groups},
        "aws": {"region": REGION},
        **overrides,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def load(path: Path, data_dir: Path) -> Config:
    return load_config(config_file=path, data_dir=data_dir, environ={})


def action_context(config: Config, env: str, job_id: str | None = None) -> ActionContext:
    """What the executor gives an action of a job in `env`, built from the same config."""
    resources = Local(config).resources(env)
    return ActionContext(env=env, job_id=job_id, resources=resources)


IMAGE_ID = "ami-760aaa0f"  # one of the Amazon Linux images moto ships


def create_group(
    name: str, *, min_size: int, max_size: int, desired: int, region: str = REGION
) -> None:
    """A launch template and an Auto Scaling group named `name`, tagged, in moto's `region`."""
    ec2 = boto3.client("ec2", region_name=region)
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.small"},
    )
    boto3.client("autoscaling", region_name=region).create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        AvailabilityZones=[f"{region}a"],
        Tags=[
            {"Key": key, "Value": value, "PropagateAtLaunch": True} for key, value in TAGS.items()
        ],
    )


def describe(name: str, region: str = REGION) -> dict[str, Any]:
    asg = boto3.client("autoscaling", region_name=region)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return dict(group)


def desired(name: str, region: str = REGION) -> int:
    return int(describe(name, region)["DesiredCapacity"])


def instance_tags(name: str) -> list[dict[str, str]]:
    """The tags of each instance of group `name`, as EC2 reports them."""
    ids = [i["InstanceId"] for i in describe(name)["Instances"]]
    reservations = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=ids)
    return [
        {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        for reservation in reservations["Reservations"]
        for instance in reservation["Instances"]
    ]
