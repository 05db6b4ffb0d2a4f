"""`security.check` against live resources: staging's aws states applied to moto pass the
security rules; resources changed by hand afterwards are findings naming resource and rule,
and the metrics count them per rule."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from prometheus_client import CollectorRegistry

from orchestrator.core.actions import ActionContext
from orchestrator.core.journal import Phase, StepRecord, StepStatus
from orchestrator.core.resources import Resources
from orchestrator.core.results import Result
from orchestrator.families.aws.clients import AWS, AwsClients
from orchestrator.families.aws.config import AwsConfig
from orchestrator.families.security.actions import CheckParams, check
from orchestrator.families.security.metrics import SecurityMetrics, SecurityMetricsHook
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import topology
from tests.integration.salt.test_aws_apply import apply, failures

pytestmark = pytest.mark.integration

ENV = "staging"
EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _check() -> Result:
    aws = AwsClients(AwsConfig(region="eu-west-1", dr_region="eu-central-1"))
    return check(ActionContext(env=ENV, resources=Resources().add(AWS, aws)), CheckParams())


def _break_things() -> None:
    """What someone might do by hand: each is one rule's finding."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.put_public_access_block(
        Bucket="fluxora-staging-backups",
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
            False,
        ),
    )
    s3.delete_bucket_encryption(Bucket="fluxora-staging-artifacts")
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fluxora-staging"]}])[
        "Vpcs"
    ]
    (db,) = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": ["fluxora-staging-db"]},
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        ]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(
        GroupId=db["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    iam = boto3.client("iam")
    arn = iam.create_policy(PolicyName="break-glass", PolicyDocument=json.dumps(EVERYTHING))
    iam.attach_role_policy(RoleName="fluxora-staging-worker", PolicyArn=arn["Policy"]["Arn"])
    boto3.client("cloudtrail", region_name="eu-west-1").stop_logging(Name="fluxora-staging-trail")
    dr = boto3.client("ec2", region_name="eu-central-1")
    (dr_vpc,) = dr.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fluxora-staging-dr"]}])[
        "Vpcs"
    ]
    flows = dr.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [dr_vpc["VpcId"]]}])
    dr.delete_flow_logs(FlowLogIds=[f["FlowLogId"] for f in flows["FlowLogs"]])


def test_the_live_check_finds_nothing_after_an_apply_and_names_what_was_changed_by_hand(
    aws_reset: None, local_minion_factory: Callable[..., LocalMinion]
) -> None:
    (host,) = [h for h, roles in topology(ENV).items() if "cloud" in roles]
    assert failures(apply(local_minion_factory(ENV, host, topology(ENV)[host]))) == {}
    clean = _check()
    assert clean.ok, clean.error
    assert clean.data["findings"] == []
    assert set(clean.data["counts"].values()) == {0}

    _break_things()
    found = _check()
    assert found.ok, found.error
    assert sorted((f.split(": ")[0], f.split(": ")[1]) for f in found.data["findings"]) == [
        ("cloudtrail", "missing-logging"),
        ("fluxora-staging-artifacts", "unencrypted-bucket"),
        ("fluxora-staging-backups", "public-bucket"),
        ("fluxora-staging-db@eu-west-1", "open-admin-port"),
        ("fluxora-staging-dr", "missing-logging"),
        ("fluxora-staging-worker", "wildcard-iam"),
    ]
    assert found.data["counts"]["missing-logging"] == 2


def test_a_check_that_cannot_read_aws_fails(aws_reset: None) -> None:
    result = check(ActionContext(env=ENV, resources=Resources()), CheckParams())
    assert not result.ok
    assert "could not read AWS" in (result.error or "")


def _run_with(output: dict[str, Any], status: StepStatus) -> Any:
    now = datetime.now(UTC)
    step = StepRecord(
        name="check",
        action="security.check",
        phase=Phase.STEP,
        status=status,
        started_at=now,
        ended_at=now,
        output=output,
    )
    return SimpleNamespace(journal=SimpleNamespace(steps=[step]))


def test_the_metrics_count_findings_per_rule_and_only_a_completed_check_counts() -> None:
    registry = CollectorRegistry()
    metrics = SecurityMetrics(registry)
    metrics.start(ENV, ["public-bucket", "missing-logging", "imdsv1"])
    sample = registry.get_sample_value
    assert math.isnan(sample("fluxora_security_findings", {"env": ENV, "rule": "imdsv1"}) or 0)
    hook = SecurityMetricsHook(metrics)
    counts = {"public-bucket": 1, "missing-logging": 2, "imdsv1": 0}
    asyncio.run(hook.on_finish(_run_with({"env": ENV, "counts": counts}, StepStatus.OK)))
    assert sample("fluxora_security_findings", {"env": ENV, "rule": "missing-logging"}) == 2
    assert sample("fluxora_security_findings", {"env": ENV, "rule": "imdsv1"}) == 0
    stamp = sample("fluxora_security_check_last_success_timestamp_seconds", {"env": ENV})
    assert stamp is not None
    asyncio.run(hook.on_finish(_run_with({"env": ENV, "counts": {}}, StepStatus.FAILED)))
    assert sample("fluxora_security_check_last_success_timestamp_seconds", {"env": ENV}) == stamp
