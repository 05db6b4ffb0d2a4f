"""Orphans on moto: a bucket and a security group removed from staging's pillar, and Auto
Scaling groups with their launch templates tagged as staging's but not declared, are listed by
a plan as `remove` (nothing deleted), deleted by an apply (a bucket that holds data and a group
with instances refused), and another environment's or untagged resources are never touched."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from orchestrator.families.releases.plan import Action, summarise
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import topology
from tests.integration.salt.test_aws_apply import failures, pillar

pytestmark = pytest.mark.integration

ENV = "staging"
# What the orphans need: buckets (and the role they replicate through), groups (and their VPC).
# Later runs apply aws.orphans alone: its declared names come from pillar, not from the run.
SLS = "aws.iam,aws.s3,aws.network,aws.security_groups,aws.orphans"
ORPHANS = "fluxora_orphans_|-aws-orphans-fluxora_orphans-absent_|-fluxora-staging_|-absent"
LEGACY = {
    "fluxora": {
        "aws": {
            "buckets": {
                "legacy": {
                    "name": "fluxora-staging-legacy",
                    "dr_name": "fluxora-staging-legacy-dr",
                    "lifecycle": {"expire_days": 30},
                }
            },
            "security_groups": {
                "legacy": {
                    "description": "a tier no longer deployed",
                    "ingress": [{"port": 8080, "source_group": "api", "description": "old app"}],
                    "egress": [{"port": 443, "cidr": "vpc", "description": "out"}],
                }
            },
        }
    }
}


def _apply(minion: LocalMinion, *extra: str, sls: str = SLS) -> dict[str, Any]:
    result = minion.call("state.apply", sls, *extra, check=False, timeout=600)
    assert isinstance(result, dict), result
    return dict(result)


def _buckets() -> set[str]:
    return {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


def _groups(region: str) -> set[str]:
    found = boto3.client("ec2", region_name=region).describe_security_groups()["SecurityGroups"]
    return {g["GroupName"] for g in found}


def _bystanders(region: str, tags: dict[str, str]) -> tuple[set[str], set[str]]:
    """Buckets and groups the orphans must leave alone: prod's, and staging-named ones not
    tagged ManagedBy=salt."""
    s3 = boto3.client("s3", region_name=region)
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"fluxora-{ENV}"]}])
    vpc_id = vpc["Vpcs"][0]["VpcId"]
    prod = {**tags, "Environment": "prod"}
    by_hand = {**tags, "ManagedBy": "hand"}
    buckets = {
        "fluxora-prod-reports": prod,
        "fluxora-staging-prods-copy": prod,
        "fluxora-staging-scratch": by_hand,
    }
    groups = {"fluxora-prod-reports": prod, "fluxora-staging-scratch": by_hand}
    for name, bucket_tags in buckets.items():
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        tag_set = [{"Key": k, "Value": v} for k, v in bucket_tags.items()]
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_set})
    s3.create_bucket(
        Bucket="fluxora-staging-untagged", CreateBucketConfiguration={"LocationConstraint": region}
    )
    for name, group_tags in groups.items():
        ec2.create_security_group(
            GroupName=name,
            Description="not ours",
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": k, "Value": v} for k, v in group_tags.items()],
                }
            ],
        )
    return {*buckets, "fluxora-staging-untagged"}, set(groups)


def _scaling_group(region: str, name: str, tags: dict[str, str], desired: int) -> None:
    """A launch template and an Auto Scaling group of `desired` instances, both tagged `tags`."""
    ec2 = boto3.client("ec2", region_name=region)
    image = pillar(ENV)["aws"]["groups"]["api"]["image_id"]
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list}],
    )
    boto3.client("autoscaling", region_name=region).create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=desired,
        AvailabilityZones=[f"{region}a"],
        Tags=[dict(t, PropagateAtLaunch=True) for t in tag_list],
    )


def _scaling_groups(region: str) -> set[str]:
    found = boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups()
    return {g["AutoScalingGroupName"] for g in found["AutoScalingGroups"]}


def _templates(region: str) -> set[str]:
    found = boto3.client("ec2", region_name=region).describe_launch_templates()
    return {t["LaunchTemplateName"] for t in found["LaunchTemplates"]}


def test_a_resource_removed_from_pillar_is_reported_as_an_orphan_and_removed_by_an_apply(
    aws_reset: None, local_minion_factory: Callable[..., LocalMinion]
) -> None:
    (host,) = [h for h, roles in topology(ENV).items() if "cloud" in roles]
    minion = local_minion_factory(ENV, host, topology(ENV)[host])
    data = pillar(ENV)
    region, dr_region = data["aws"]["region"], data["aws"]["dr_region"]
    first = _apply(minion, f"pillar={json.dumps(LEGACY)}")
    assert failures(first) == {}
    assert first[ORPHANS]["comment"] == "no orphans", "what pillar declares is no orphan"
    legacy = {"fluxora-staging-legacy", "fluxora-staging-legacy-dr"}
    assert legacy <= _buckets()
    assert "fluxora-staging-legacy" in _groups(region) & _groups(dr_region)
    boto3.client("s3", region_name=region).put_object(
        Bucket="fluxora-staging-legacy", Key="report.csv", Body=b"data"
    )
    keep_buckets, keep_groups = _bystanders(region, data["tags"])
    _scaling_group(region, "fluxora-staging-old-app", data["tags"], 0)
    _scaling_group(region, "fluxora-staging-busy", data["tags"], 1)
    _scaling_group(region, "fluxora-prod-app", {**data["tags"], "Environment": "prod"}, 0)

    # The plan: legacy is gone from pillar, so it is listed as to be removed; nothing is.
    plan = _apply(minion, "test=True", sls="aws.orphans")
    assert plan[ORPHANS]["result"] is None
    removes = [
        i.resource
        for i in summarise(ENV, "r", "d", {host: plan}).items
        if i.action is Action.REMOVE
    ]
    refusing = {
        f"Auto Scaling group fluxora-staging-busy ({region}) [has instances: an apply refuses it]",
        f"bucket fluxora-staging-legacy ({region}) [not empty: an apply refuses it]",
        f"launch template fluxora-staging-busy ({region}) "
        "[its group has instances: an apply refuses it]",
    }
    going = {
        f"Auto Scaling group fluxora-staging-old-app ({region})",
        f"bucket fluxora-staging-legacy-dr ({dr_region})",
        f"launch template fluxora-staging-old-app ({region})",
        f"security group fluxora-staging-legacy ({dr_region})",
        f"security group fluxora-staging-legacy ({region})",
    }
    assert sorted(removes) == sorted(refusing | going)
    assert legacy <= _buckets()
    assert "fluxora-staging-legacy" in _groups(region) & _groups(dr_region)
    scaling = {"fluxora-staging-old-app", "fluxora-staging-busy", "fluxora-prod-app"}
    assert scaling <= _scaling_groups(region) & _templates(region)

    # The apply: the others go; the bucket with data and the group with instances are refused.
    orphans = _apply(minion, sls="aws.orphans")[ORPHANS]
    assert orphans["result"] is False
    comment = orphans["comment"]
    assert f"bucket fluxora-staging-legacy ({region}) not deleted: it holds 1 object" in comment
    assert f"group fluxora-staging-busy ({region}) not deleted: it has 1 instances" in comment
    assert sorted(orphans["changes"]["removed"]) == sorted(going)
    assert legacy & _buckets() == {"fluxora-staging-legacy"}
    assert "fluxora-staging-legacy" not in _groups(region) | _groups(dr_region)
    assert _scaling_groups(region) & scaling == {"fluxora-staging-busy", "fluxora-prod-app"}
    assert _templates(region) & scaling == {"fluxora-staging-busy", "fluxora-prod-app"}
    assert keep_buckets <= _buckets()
    assert keep_groups <= _groups(region)

    # Emptied and scaled to 0 by the operator, they go with the next apply; then nothing is left.
    s3 = boto3.client("s3", region_name=region)
    versions = s3.list_object_versions(Bucket="fluxora-staging-legacy")
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(
            Bucket="fluxora-staging-legacy", Key=item["Key"], VersionId=item["VersionId"]
        )
    autoscaling = boto3.client("autoscaling", region_name=region)
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="fluxora-staging-busy", MinSize=0, DesiredCapacity=0
    )
    last = _apply(minion, sls="aws.orphans")
    assert last[ORPHANS]["result"] is True, last[ORPHANS]
    assert sorted(last[ORPHANS]["changes"]["removed"]) == [
        f"Auto Scaling group fluxora-staging-busy ({region})",
        f"bucket fluxora-staging-legacy ({region})",
        f"launch template fluxora-staging-busy ({region})",
    ]
    assert not legacy & _buckets()
    assert _scaling_groups(region) & scaling == {"fluxora-prod-app"}
    assert keep_buckets <= _buckets()
    assert _apply(minion, "test=True", sls="aws.orphans")[ORPHANS]["comment"] == "no orphans"
