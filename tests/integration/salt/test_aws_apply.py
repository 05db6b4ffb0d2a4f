"""staging's and prod's AWS states applied against the moto server, read back with boto3."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.harness.pillar import merged_pillar
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import topology

pytestmark = pytest.mark.integration


def pillar(env: str) -> dict[str, Any]:
    return merged_pillar(env)


def tags_of(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def apply(minion: LocalMinion, test: bool = False, sls: str = "aws") -> dict[str, Any]:
    args = ["state.apply", sls, *(["test=True"] if test else [])]
    result = minion.call(*args, check=False, timeout=600)
    assert isinstance(result, dict), result
    return dict(result)


def failures(result: dict[str, Any]) -> dict[str, str]:
    return {v["__id__"]: v["comment"] for v in result.values() if v["result"] is False}


def check_buckets(env: str, data: dict[str, Any]) -> None:
    aws = data["aws"]
    for bucket in aws["buckets"].values():
        for name, region in (
            (bucket["name"], aws["region"]),
            (bucket["dr_name"], aws["dr_region"]),
        ):
            s3 = boto3.client("s3", region_name=region)
            assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == region
            assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
            sse = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
            assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
            block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
            assert all(block.values())
            (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
            assert rule["Expiration"]["Days"] == bucket["lifecycle"]["expire_days"]
            assert rule["Transitions"][0]["Days"] == bucket["lifecycle"]["transition_days"]
            assert tags_of(s3.get_bucket_tagging(Bucket=name)["TagSet"]) == data["tags"]
        s3 = boto3.client("s3", region_name=aws["region"])
        replication = s3.get_bucket_replication(Bucket=bucket["name"])["ReplicationConfiguration"]
        assert replication["Role"].endswith(f":role/fluxora-{env}-s3-replication")
        (rule,) = replication["Rules"]
        assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{bucket['dr_name']}"


def check_groups(env: str, data: dict[str, Any]) -> None:
    asg = boto3.client("autoscaling", region_name=data["aws"]["region"])
    ec2 = boto3.client("ec2", region_name=data["aws"]["region"])
    for key, policy in data["scaling"]["groups"].items():
        name = f"fluxora-{env}-{key}"
        (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        assert group["LaunchTemplate"]["LaunchTemplateName"] == name
        assert sorted(group["VPCZoneIdentifier"].split(",")) == subnet_ids(
            env, data["aws"], "primary"
        )
        assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (
            policy["min"],
            policy["max"],
            policy["desired"],
        )
        assert group["DefaultCooldown"] == policy["cooldown_seconds"]
        assert group["NewInstancesProtectedFromScaleIn"] == policy["scale_in_protection"]
        assert {t["Key"]: t["Value"] for t in group["Tags"]} == data["tags"]
        assert all(t["PropagateAtLaunch"] for t in group["Tags"])
        (version,) = ec2.describe_launch_template_versions(
            LaunchTemplateName=name, Versions=["$Default"]
        )["LaunchTemplateVersions"]
        assert (
            version["LaunchTemplateData"]["InstanceType"]
            == data["aws"]["groups"][key]["instance_type"]
        )
        assert version["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"


def check_dr_groups(env: str, data: dict[str, Any]) -> None:
    """The DR region's pilot-light copies: at 0 (min 0), the group's max, the same tags, the DR
    region's image, instance type and zones."""
    aws = data["aws"]
    asg = boto3.client("autoscaling", region_name=aws["dr_region"])
    ec2 = boto3.client("ec2", region_name=aws["dr_region"])
    assert sorted(aws["dr_groups"]) == sorted(aws["groups"])
    for key, dr in aws["dr_groups"].items():
        name = f"fluxora-{env}-{key}-dr"
        (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        limits = (group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
        assert limits == (0, data["scaling"]["groups"][key]["max"], 0)
        assert group["NewInstancesProtectedFromScaleIn"] is False
        assert sorted(group["VPCZoneIdentifier"].split(",")) == subnet_ids(env, aws, "dr")
        assert {t["Key"]: t["Value"] for t in group["Tags"]} == data["tags"]
        (version,) = ec2.describe_launch_template_versions(
            LaunchTemplateName=name, Versions=["$Default"]
        )["LaunchTemplateVersions"]
        template = version["LaunchTemplateData"]
        assert (template["ImageId"], template["InstanceType"]) == (
            dr["image_id"],
            dr["instance_type"],
        )


def vpc_of(env: str, aws: dict[str, Any], which: str) -> dict[str, Any]:
    region = aws["region"] if which == "primary" else aws["dr_region"]
    name = f"fluxora-{env}" if which == "primary" else f"fluxora-{env}-dr"
    ec2 = boto3.client("ec2", region_name=region)
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    return dict(vpc)


def subnet_ids(env: str, aws: dict[str, Any], which: str) -> list[str]:
    region = aws["region"] if which == "primary" else aws["dr_region"]
    vpc = vpc_of(env, aws, which)["VpcId"]
    ec2 = boto3.client("ec2", region_name=region)
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return sorted(subnet["SubnetId"] for subnet in found)


def check_network(env: str, data: dict[str, Any]) -> None:
    """A VPC per region with the pillar's private subnets, whose route table reaches nothing
    outside the VPC but S3 (the gateway endpoint), tagged."""
    aws = data["aws"]
    for which, key in (("primary", "network"), ("dr", "dr_network")):
        region = aws["region"] if which == "primary" else aws["dr_region"]
        ec2 = boto3.client("ec2", region_name=region)
        vpc = vpc_of(env, aws, which)
        assert vpc["CidrBlock"] == aws[key]["cidr"]
        assert {k: v for k, v in tags_of(vpc["Tags"]).items() if k != "Name"} == data["tags"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
        assert sorted(
            (s["AvailabilityZone"], s["CidrBlock"]) for s in subnets["Subnets"]
        ) == sorted((s["zone"], s["cidr"]) for s in aws[key]["subnets"].values())
        assert not any(s["MapPublicIpOnLaunch"] for s in subnets["Subnets"])
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
        routes = [r for t in tables["RouteTables"] for r in t["Routes"]]
        assert not [r for r in routes if str(r.get("GatewayId", "")).startswith("igw-")]
        (endpoint,) = ec2.describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        )["VpcEndpoints"]
        assert endpoint["ServiceName"] == f"com.amazonaws.{region}.s3"


def check_security_groups(env: str, data: dict[str, Any]) -> None:
    ec2 = boto3.client("ec2", region_name=data["aws"]["region"])
    vpc = vpc_of(env, data["aws"], "primary")
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    groups = {g["GroupName"]: g for g in found["SecurityGroups"]}
    api, worker, db = (groups[f"fluxora-{env}-{k}"] for k in ("api", "worker", "db"))
    # Nothing leaves a group but what pillar lists: AWS's allow-all egress rule is gone.
    for group in (api, worker, db, groups[f"fluxora-{env}-ops"], groups[f"fluxora-{env}-cache"]):
        ranges = [r["CidrIp"] for p in group["IpPermissionsEgress"] for r in p.get("IpRanges", [])]
        assert all(p["IpProtocol"] == "tcp" for p in group["IpPermissionsEgress"]), group
        assert "0.0.0.0/0" not in ranges or group["GroupName"].endswith("-ops")
    s3_out = [p for p in worker["IpPermissionsEgress"] if p.get("PrefixListIds")]
    assert [(p["FromPort"], p["ToPort"]) for p in s3_out] == [(443, 443)]
    assert [
        (p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in api["IpPermissions"]
    ] == [(443, ["0.0.0.0/0"])]
    assert worker["IpPermissions"] == []
    by_port = {p["FromPort"]: p for p in db["IpPermissions"]}
    assert set(by_port) == {5432, 2379, 8008}  # PostgreSQL; etcd and Patroni's REST API
    sources = sorted(pair["GroupId"] for pair in by_port[5432]["UserIdGroupPairs"])
    ops = groups[f"fluxora-{env}-ops"]
    assert sources == sorted([api["GroupId"], worker["GroupId"], ops["GroupId"]])
    for port in (2379, 8008):  # inside the VPC only
        ranges = [ipaddress.ip_network(r["CidrIp"]) for r in by_port[port]["IpRanges"]]
        assert ranges, port
        assert all(r.is_private and r.prefixlen >= 16 for r in ranges), (port, ranges)
    assert tags_of(db["Tags"]) == {**data["tags"], "Name": f"fluxora-{env}-db"}


def check_dns(env: str, data: dict[str, Any]) -> None:
    r53 = boto3.client("route53")
    zone = data["aws"]["dns"]["zone"]
    (hosted,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == zone]
    zone_id = hosted["Id"].rsplit("/", 1)[-1]
    zone_tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
    assert tags_of(zone_tags["ResourceTagSet"]["Tags"]) == data["tags"]
    records = [
        r
        for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r.get("Failover")
    ]
    api = data["aws"]["dns"]["records"]["api"]
    by_role = {r["Failover"]: r for r in records}
    assert set(by_role) == {"PRIMARY", "SECONDARY"}
    for role, endpoint in (("PRIMARY", api["primary"]), ("SECONDARY", api["secondary"])):
        assert by_role[role]["ResourceRecords"] == [{"Value": endpoint["ip"]}]
        check = r53.get_health_check(HealthCheckId=by_role[role]["HealthCheckId"])["HealthCheck"]
        assert check["HealthCheckConfig"]["IPAddress"] == endpoint["ip"]
        assert check["HealthCheckConfig"]["ResourcePath"] == endpoint["health_path"]


def check_orchestrator_role(env: str, data: dict[str, Any]) -> None:
    iam = boto3.client("iam")
    name = f"fluxora-{env}-orchestrator"
    assert tags_of(iam.list_role_tags(RoleName=name)["Tags"]) == data["tags"]
    documents = [
        iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    text = json.dumps(documents)
    assert "ref:" not in text, "every reference was resolved to a real ARN"
    asg_arns = [
        g["AutoScalingGroupARN"]
        for region in (data["aws"]["region"], data["aws"]["dr_region"])
        for g in boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups()[
            "AutoScalingGroups"
        ]
    ]
    assert len(asg_arns) == 2 * len(data["aws"]["groups"])
    assert all(arn in text for arn in asg_arns)
    zone = data["aws"]["dns"]["zone"]
    (hosted,) = [
        z for z in boto3.client("route53").list_hosted_zones()["HostedZones"] if z["Name"] == zone
    ]
    assert f"arn:aws:route53:::{hosted['Id'].lstrip('/')}" in text
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]


def check_logging(env: str, data: dict[str, Any]) -> None:
    """CloudTrail for every region with log-file validation, logging; server access logs of
    every bucket and flow logs of both regions' VPCs, into the log bucket of their region."""
    aws = data["aws"]
    trail = boto3.client("cloudtrail", region_name=aws["region"])
    (found,) = trail.describe_trails(trailNameList=[f"fluxora-{env}-trail"])["trailList"]
    assert found["S3BucketName"] == f"fluxora-{env}-logs"
    assert found["IsMultiRegionTrail"] is True
    assert found["LogFileValidationEnabled"] is True
    assert trail.get_trail_status(Name=f"fluxora-{env}-trail")["IsLogging"] is True
    (tags,) = trail.list_tags(ResourceIdList=[found["TrailARN"]])["ResourceTagList"]
    assert tags_of(tags["TagsList"]) == data["tags"]
    for region, logs in (
        (aws["region"], f"fluxora-{env}-logs"),
        (aws["dr_region"], f"fluxora-{env}-logs-dr"),
    ):
        s3 = boto3.client("s3", region_name=region)
        policy = json.loads(s3.get_bucket_policy(Bucket=logs)["Policy"])
        principals = {
            json.dumps(st["Principal"]) for st in policy["Statement"] if st["Effect"] == "Allow"
        }
        assert any("cloudtrail.amazonaws.com" in p for p in principals)
        assert any("logging.s3.amazonaws.com" in p for p in principals)
        buckets = [b[key] for b in aws["buckets"].values() for key in ("name", "dr_name")]
        for bucket in [b for b in buckets if (region == aws["dr_region"]) == b.endswith("-dr")]:
            enabled = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
            assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == (logs, f"s3/{bucket}/")
        ec2 = boto3.client("ec2", region_name=region)
        vpc = vpc_of(env, aws, "primary" if region == aws["region"] else "dr")
        (flow,) = ec2.describe_flow_logs(
            Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}]
        )["FlowLogs"]
        assert (flow["TrafficType"], flow["LogDestination"]) == ("ALL", f"arn:aws:s3:::{logs}")
        assert tags_of(flow["Tags"]) == {**data["tags"], "Name": flow_name(env, region, aws)}


def flow_name(env: str, region: str, aws: dict[str, Any]) -> str:
    return f"fluxora-{env}-flow-{'primary' if region == aws['region'] else 'dr'}"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_aws_states_apply_verify_and_reapply_with_no_change(
    env: str, aws_reset: None, local_minion_factory: Callable[..., LocalMinion]
) -> None:
    (host,) = [h for h, roles in topology(env).items() if "cloud" in roles]
    minion = local_minion_factory(env, host, topology(env)[host])
    first = apply(minion)
    assert failures(first) == {}
    (orphans,) = [k for k in first if k.startswith("fluxora_orphans_|-")]
    assert first.pop(orphans)["comment"] == "no orphans", "everything applied is declared"
    assert all(v["changes"] for v in first.values()), "the first apply creates every resource"

    data = pillar(env)
    check_buckets(env, data)
    check_groups(env, data)
    check_dr_groups(env, data)
    check_network(env, data)
    check_security_groups(env, data)
    check_dns(env, data)
    check_orchestrator_role(env, data)
    check_logging(env, data)

    second = apply(minion)
    assert failures(second) == {}
    assert {v["__id__"]: v["changes"] for v in second.values() if v["changes"]} == {}
    dry = apply(minion, test=True)
    assert {v["__id__"]: v["result"] for v in dry.values() if v["result"] is not True} == {}


@pytest.mark.validate
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_plan_on_an_empty_account_lists_every_resource_as_pending_and_fails_none(
    env: str, aws_reset: None, local_minion_factory: Callable[..., LocalMinion]
) -> None:
    (host,) = [h for h, roles in topology(env).items() if "cloud" in roles]
    minion = local_minion_factory(env, host, topology(env)[host])

    plan = apply(minion, test=True)
    assert failures(plan) == {}
    pending = [v["__id__"] for v in plan.values() if v["result"] is None]
    assert pending, "an empty account has everything to create"
    assert (
        boto3.client("s3", region_name=pillar(env)["aws"]["region"]).list_buckets()["Buckets"] == []
    ), "a plan creates nothing"


def test_an_out_of_band_managed_policy_is_reported_by_a_plan_and_removed_by_an_apply(
    aws_reset: None, local_minion_factory: Callable[..., LocalMinion]
) -> None:
    (host,) = [h for h, roles in topology("staging").items() if "cloud" in roles]
    minion = local_minion_factory("staging", host, topology("staging")[host])
    assert failures(apply(minion, sls="aws.iam")) == {}
    iam = boto3.client("iam")
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="break-glass", PolicyDocument=json.dumps(everything))[
        "Policy"
    ]["Arn"]
    iam.attach_role_policy(RoleName="fluxora-staging-worker", PolicyArn=arn)

    plan = apply(minion, test=True, sls="aws.iam")
    pending = {v["__id__"]: (v["result"], v["changes"]) for v in plan.values() if v["changes"]}
    assert pending == {
        "aws-iam-worker-fluxora_iam-role_present": (
            None,
            {"old": {"managed_policies": [arn]}, "new": {"managed_policies": []}},
        )
    }
    assert failures(apply(minion, sls="aws.iam")) == {}
    attached = iam.list_attached_role_policies(RoleName="fluxora-staging-worker")
    assert attached["AttachedPolicies"] == []
