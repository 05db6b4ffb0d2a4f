"""The live inventory of one environment's cloud resources, read from AWS, in the shape the
rules of `policy.py` judge.

What belongs to the environment: buckets and IAM roles named `fluxora-<env>-*`, and in its
primary and DR regions every VPC tagged `Environment=<env>` with every security group in those
VPCs (a group added by hand in the VPC is judged too), launch templates tagged likewise, and
the account's CloudTrail trails.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.families.aws.clients import AwsClients

Inventory = dict[str, list[dict[str, Any]]]


def _optional(call: Any, missing: tuple[str, ...], **kwargs: Any) -> Any:
    """The answer, or None when AWS says the thing is not configured."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in missing:
            return None
        raise


def _bucket(aws: AwsClients, name: str) -> dict[str, Any]:
    location = aws.client("s3").get_bucket_location(Bucket=name).get("LocationConstraint")
    s3 = aws.client("s3", location or "us-east-1")
    block = _optional(
        s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=name
    )
    encryption = _optional(
        s3.get_bucket_encryption,
        ("ServerSideEncryptionConfigurationNotFoundError",),
        Bucket=name,
    )
    rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [{}])
    logging = s3.get_bucket_logging(Bucket=name).get("LoggingEnabled")
    bucket_policy = _optional(s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=name)
    return {
        "name": name,
        "public_access_block": (block or {}).get("PublicAccessBlockConfiguration", {}),
        "encryption": rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm"),
        "access_log": (
            {"bucket": logging["TargetBucket"], "prefix": logging.get("TargetPrefix", "")}
            if logging
            else None
        ),
        "policy": json.loads(bucket_policy["Policy"]) if bucket_policy else None,
    }


def buckets(aws: AwsClients, prefix: str) -> list[dict[str, Any]]:
    names = [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    return [_bucket(aws, name) for name in sorted(names) if name.startswith(prefix)]


def _ingress(permission: dict[str, Any]) -> Iterator[dict[str, Any]]:
    ranges = [r["CidrIp"] for r in permission.get("IpRanges", [])]
    ranges += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
    for cidr in ranges:
        rule: dict[str, Any] = {"protocol": str(permission["IpProtocol"]), "cidr": cidr}
        if "FromPort" in permission:
            rule.update(port=permission["FromPort"], to_port=permission["ToPort"])
        yield rule


def _tagged(env: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:Environment", "Values": [env]}]


def networks(aws: AwsClients, env: str, regions: list[str]) -> Inventory:
    """VPCs (with whether they have flow logs), their security groups, launch templates."""
    found: Inventory = {"networks": [], "security_groups": [], "launch_templates": []}
    for region in regions:
        ec2 = aws.client("ec2", region)
        for vpc in ec2.describe_vpcs(Filters=_tagged(env))["Vpcs"]:
            vpc_id = vpc["VpcId"]
            name = {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}.get("Name", vpc_id)
            logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])
            found["networks"].append(
                {"name": name, "region": region, "flow_logs": bool(logs["FlowLogs"])}
            )
            groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
                "SecurityGroups"
            ]
            found["security_groups"] += [
                {
                    "name": f"{group['GroupName']}@{region}",
                    "ingress": [r for p in group["IpPermissions"] for r in _ingress(p)],
                }
                for group in groups
            ]
        for template in ec2.describe_launch_templates(Filters=_tagged(env))["LaunchTemplates"]:
            (version,) = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
            )["LaunchTemplateVersions"]
            options = version["LaunchTemplateData"].get("MetadataOptions", {})
            found["launch_templates"].append(
                {
                    "name": f"{template['LaunchTemplateName']}@{region}",
                    "http_tokens": options.get("HttpTokens", "optional"),
                }
            )
    return found


def _document(value: Any) -> Any:
    """A policy document as IAM returns it (URL-encoded JSON, or already parsed)."""
    return json.loads(urllib.parse.unquote(value)) if isinstance(value, str) else value


def _role(iam: Any, name: str) -> dict[str, Any]:
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    policies = {
        policy: _document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        for policy in inline
    }
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)
        policies[arn] = _document(document["PolicyVersion"]["Document"])
    return {"name": name, "policies": policies}


def roles(aws: AwsClients, prefix: str) -> list[dict[str, Any]]:
    iam = aws.client("iam")
    names = [
        role["RoleName"]
        for page in iam.get_paginator("list_roles").paginate()
        for role in page["Roles"]
        if role["RoleName"].startswith(prefix)
    ]
    return [_role(iam, name) for name in sorted(names)]


def trails(aws: AwsClients) -> list[dict[str, Any]]:
    cloudtrail = aws.client("cloudtrail")
    found = []
    for trail in cloudtrail.describe_trails(includeShadowTrails=True)["trailList"]:
        status = cloudtrail.get_trail_status(Name=trail["TrailARN"])
        found.append(
            {
                "name": trail["Name"],
                "multi_region": trail.get("IsMultiRegionTrail", False),
                "log_file_validation": trail.get("LogFileValidationEnabled", False),
                "logging": status.get("IsLogging", False),
            }
        )
    return found


def read(aws: AwsClients, env: str) -> Inventory:
    """Everything `policy.check` judges, for environment `env`."""
    prefix = f"fluxora-{env}-"
    regions = [aws.config.region, *([aws.config.dr_region] if aws.config.dr_region else [])]
    return {
        "buckets": buckets(aws, prefix),
        "roles": roles(aws, prefix),
        "trails": trails(aws),
        **networks(aws, env, regions),
    }
