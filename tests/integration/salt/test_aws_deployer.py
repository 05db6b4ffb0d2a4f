"""The deployer role's rights are enough to apply the aws states: staging applied with the
deployer's policy against moto with IAM enforcement on (every call is checked against the
policy; a missing action is AccessDenied).

Moto checks actions, and resources only for S3 buckets (every other service is checked against
"*", and conditions are not evaluated), so the policy is enforced in that form: the action
lists and the bucket scoping are what this proves; the resource scoping of the other services
is checked by parliament in test_aws_policy.py. The policy is held by a user rather than
assumed as the role: moto 5.2 refuses Route53 calls signed with a session token
(SignatureDoesNotMatch).

Route53 is left out of the enforced run (aws.dns, and aws.orchestrator_role, which names the
zone): moto 5.2 refuses some Route53 calls under enforcement with SignatureDoesNotMatch even
from a user's keys (ListHealthChecks, in any region). Its actions are checked by name by
parliament.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.harness.processes import ServerProcess
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import topology
from tests.integration.salt.test_aws_apply import failures

pytestmark = pytest.mark.integration

ENV = "staging"
DEPLOYER = f"fluxora-{ENV}-deployer"
# Every sls of `aws` but those that call Route53 (see above); aws.orphans finds none here, so
# this proves the rights it lists with, not those it deletes with.
ENFORCED = "aws.iam,aws.s3,aws.network,aws.logging,aws.security_groups,aws.autoscaling,aws.orphans"


def _set_auth(moto: ServerProcess, actions_before_auth: str) -> None:
    """Moto enforces IAM after this many more requests ("inf": never)."""
    request = urllib.request.Request(
        f"{moto.url}/moto-api/reset-auth",
        data=actions_before_auth.encode(),
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def enforcement(moto_server: ServerProcess, aws_reset: None) -> Iterator[Callable[[], None]]:
    """`enforce()` turns IAM enforcement on; it is off again after the test."""
    yield lambda: _set_auth(moto_server, "0")
    _set_auth(moto_server, "inf")


# moto checks an S3 call under its API operation's name; where IAM names the permission
# otherwise, the operations it covers (AWS's S3 API-to-permission table).
S3_OPERATION_NAMES = {
    "s3:ListBucket": ["s3:HeadBucket", "s3:ListObjects", "s3:ListObjectsV2"],
    "s3:GetEncryptionConfiguration": ["s3:GetBucketEncryption"],
    "s3:PutEncryptionConfiguration": ["s3:PutBucketEncryption"],
    "s3:GetBucketPublicAccessBlock": ["s3:GetPublicAccessBlock"],
    "s3:PutBucketPublicAccessBlock": ["s3:PutPublicAccessBlock"],
    "s3:GetLifecycleConfiguration": ["s3:GetBucketLifecycleConfiguration"],
    "s3:PutLifecycleConfiguration": ["s3:PutBucketLifecycleConfiguration"],
    "s3:GetReplicationConfiguration": ["s3:GetBucketReplication"],
    "s3:PutReplicationConfiguration": ["s3:PutBucketReplication"],
    "s3:ListAllMyBuckets": ["s3:ListBuckets"],
    "s3:ListBucketVersions": ["s3:ListObjectVersions"],
}


def _as_moto_checks_it(document: dict[str, Any]) -> dict[str, Any]:
    """The policy as moto can enforce it: resources other than S3 buckets widened to "*",
    no conditions, S3 actions also under the names moto checks. The same actions allowed and
    denied."""
    statements = []
    for original in document["Statement"]:
        statement = {k: v for k, v in original.items() if k != "Condition"}
        actions = list(statement["Action"])
        actions += [alias for action in actions for alias in S3_OPERATION_NAMES.get(action, [])]
        statement["Action"] = actions
        if statement["Effect"] == "Allow" and not all(a.startswith("s3:") for a in actions):
            statement["Resource"] = "*"
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _deployer_user(iam: Any, document: dict[str, Any]) -> dict[str, str]:
    """A user holding exactly the deployer's policy; its keys as environment variables."""
    iam.create_user(UserName="deployer-check")
    iam.put_user_policy(
        UserName="deployer-check", PolicyName="deploy", PolicyDocument=json.dumps(document)
    )
    key = iam.create_access_key(UserName="deployer-check")["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    statements = [
        dict(s, Action=[a for a in s["Action"] if a != action]) for s in document["Statement"]
    ]
    return dict(document, Statement=statements)


def _deploy_as_deployer(
    enforcement: Callable[[], None],
    local_minion_factory: Callable[..., LocalMinion],
    drop: str | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """aws.deployer applied as an administrator; then the aws states applied, enforced, with
    its policy (less `drop`). The apply's result, the keys used, the deployer's policy."""
    (host,) = [h for h, roles in topology(ENV).items() if "cloud" in roles]
    minion = local_minion_factory(ENV, host, topology(ENV)[host])
    assert failures(minion.call("state.apply", "aws.deployer")) == {}
    iam = boto3.client("iam")
    (name,) = iam.list_role_policies(RoleName=DEPLOYER)["PolicyNames"]
    document = iam.get_role_policy(RoleName=DEPLOYER, PolicyName=name)["PolicyDocument"]
    enforced = _as_moto_checks_it(document)
    keys = _deployer_user(iam, _without(enforced, drop) if drop else enforced)
    enforcement()
    result = minion.call(
        "state.apply", ENFORCED, check=False, timeout=600, env={**os.environ, **keys}
    )
    assert isinstance(result, dict), result
    return result, keys, document


def test_the_aws_states_apply_with_only_the_deployers_rights(
    enforcement: Callable[[], None],
    local_minion_factory: Callable[..., LocalMinion],
) -> None:
    result, keys, document = _deploy_as_deployer(enforcement, local_minion_factory)
    causes = {k: v for k, v in failures(result).items() if "requisite failed" not in v}
    assert causes == {}, "AccessDenied names the action the deployer lacks"
    assert failures(result) == {}
    assert len(result) >= 25, "buckets, roles, networks, trail, flow logs, groups, templates"
    # The same rights may not touch the deployer role itself.
    as_deployer = boto3.client("iam", **{k.lower(): v for k, v in keys.items()})
    with pytest.raises(as_deployer.exceptions.ClientError, match="AccessDenied"):
        as_deployer.put_role_policy(
            RoleName=DEPLOYER, PolicyName="more", PolicyDocument=json.dumps(document)
        )


def test_a_right_missing_from_the_deployer_fails_the_apply_naming_the_call(
    enforcement: Callable[[], None],
    local_minion_factory: Callable[..., LocalMinion],
) -> None:
    result, _, _ = _deploy_as_deployer(enforcement, local_minion_factory, "ec2:CreateFlowLogs")
    causes = {k: v for k, v in failures(result).items() if "requisite failed" not in v}
    assert list(causes) == [
        "aws-logging-flow-dr-fluxora_ec2-flow_log_present",
        "aws-logging-flow-primary-fluxora_ec2-flow_log_present",
    ]
    assert all("not authorized to perform: ec2:CreateFlowLogs" in v for v in causes.values())
