"""Every AWS resource the rendered states create is tagged; every IAM policy is least-privilege."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from parliament import analyze_policy_string

from orchestrator.families.security import policy as security_policy
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import states_of, topology

pytestmark = [pytest.mark.integration, pytest.mark.validate]

REQUIRED_TAGS = {"Project", "Environment", "Owner", "CostCenter", "ManagedBy"}
AWS_MODULES = (
    "fluxora_s3",
    "fluxora_iam",
    "fluxora_ec2",
    "fluxora_asg",
    "fluxora_route53",
    "fluxora_cloudtrail",
    "fluxora_vpc",
)
# Route53 records cannot carry tags (their zone and health checks do).
UNTAGGABLE = {("fluxora_route53", "failover_record_present")}
FAKE_ARNS = {
    "asg": "arn:aws:autoscaling:{region}:123456789012:autoScalingGroup:"
    "0e0e0e0e-0000-4000-8000-000000000000:autoScalingGroupName/{name}",
    "route53-zone": "arn:aws:route53:::hostedzone/Z0000000000000000000",
    "route53-healthcheck": "arn:aws:route53:::healthcheck/0e0e0e0e-0000-4000-8000-000000000000",
}


def cloud_states(
    highstates: dict[tuple[str, str], Any], env: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """(module, state id, args) of every AWS state of `env`'s cloud host."""
    (host,) = [h for h, roles in topology(env).items() if "cloud" in roles]
    return [
        (module, state_id, args)
        for module in AWS_MODULES
        for state_id, args in states_of(highstates[(env, host)], module).items()
    ]


def tag_problems(env: str, module: str, args: dict[str, Any]) -> list[str]:
    if (module, args["__function__"]) in UNTAGGABLE:
        return []
    tags = args.get("tags") or {}
    problems = [f"missing tag {key}" for key in sorted(REQUIRED_TAGS - set(tags))]
    problems += [f"unexpected tag {key} (misspelled?)" for key in sorted(set(tags) - REQUIRED_TAGS)]
    problems += [f"empty tag {key}" for key, value in tags.items() if not str(value).strip()]
    if tags.get("Environment") not in (None, env):
        problems.append(f"Environment tag is {tags['Environment']!r}, expected {env!r}")
    return problems


# Findings accepted on purpose: (parliament issue, what its detail must say). Each reason:
ACCEPTED = [
    # The deployer writes the log buckets' policies (CloudTrail and S3 log delivery need one),
    # so it could grant itself their objects; they hold only logs, and CloudTrail's digest
    # files show any log altered. Every other bucket's policy is out of its reach.
    (
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
        re.compile(r"arn:aws:s3:::fluxora-[a-z]+-logs(-dr)? due to s3:[A-Za-z]+Object"),
    ),
    # Lifecycle rules (retention from pillar) are the deployer's to apply, and an expiration
    # deletes objects. A changed rule is in CloudTrail and in the next plan as drift; S3 Object
    # Lock on the backups buckets would bound it further.
    (
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
        re.compile(r"arn:aws:s3:::fluxora-[a-z]+-\* due to s3:DeleteObject"),
    ),
]


def _accepted(issue: str, detail: Any) -> bool:
    text = json.dumps(detail)
    return any(issue == known and pattern.search(text) for known, pattern in ACCEPTED)


def _fake(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("ref:"):
        _, kind, name = value.split(":", 2)
        kind, _, region = kind.partition("@")  # ref:asg@<region>: a group of the DR region
        return FAKE_ARNS[kind].format(name=name, region=region or "eu-west-1")
    if isinstance(value, list):
        return [_fake(item) for item in value]
    if isinstance(value, dict):
        return {key: _fake(item) for key, item in value.items()}
    return value


def policy_problems(document: dict[str, Any]) -> list[str]:
    """Wildcard actions allowed, and whatever parliament finds (RESOURCE_STAR: `*` where the
    action supports resource-level permissions; malformed ARNs; unknown actions or condition
    keys)."""
    document = _fake(document)
    problems = []
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if "*" in action:
                problems.append(f"wildcard action {action}")
    findings = analyze_policy_string(json.dumps(document)).findings
    problems += [
        f"{finding.issue}: {finding.detail}"
        for finding in findings
        if not _accepted(finding.issue, finding.detail)
    ]
    return problems


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_aws_resource_carries_the_cost_tags(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    states = cloud_states(highstates, env)
    assert len(states) >= 20, "expected buckets, roles, groups, templates, zone, checks, records"
    problems = {state_id: tag_problems(env, module, args) for module, state_id, args in states}
    assert {k: v for k, v in problems.items() if v} == {}


def test_tag_check_catches_a_misspelled_tag() -> None:
    tags = {
        "Project": "fluxora",
        "Environment": "prod",
        "Owner": "x",
        "Costcenter": "y",
        "ManagedBy": "salt",
    }
    args = {"__function__": "bucket_present", "tags": tags}
    assert tag_problems("prod", "fluxora_s3", args) == [
        "missing tag CostCenter",
        "unexpected tag Costcenter (misspelled?)",
    ]


@pytest.fixture(scope="module")
def deployers(local_minion_factory: Callable[..., LocalMinion]) -> dict[str, dict[str, Any]]:
    """The rendered aws.deployer (not in the highstate: an administrator applies it) per env."""
    rendered = {}
    for env in ("staging", "prod"):
        (host,) = [h for h, roles in topology(env).items() if "cloud" in roles]
        sls = local_minion_factory(env, host, topology(env)[host]).call(
            "state.show_sls", "aws.deployer"
        )
        rendered[env] = states_of(sls, "fluxora_iam")["aws-deployer-fluxora_iam-role_present"]
    return rendered


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_iam_policy_is_least_privilege(
    highstates: dict[tuple[str, str], Any], deployers: dict[str, dict[str, Any]], env: str
) -> None:
    roles = [
        (state_id, args)
        for module, state_id, args in cloud_states(highstates, env)
        if module == "fluxora_iam"
    ]
    roles.append(("aws-deployer-fluxora_iam-role_present", deployers[env]))
    assert len(roles) == 6  # replication, api, worker, wal archiver, orchestrator, deployer
    assert all(args.get("managed_policies", []) == [] for _, args in roles)
    problems = {}
    for state_id, args in roles:
        for name, document in {"trust": args["assume_role_policy"], **args["policies"]}.items():
            if name != "trust" and policy_problems(document):
                problems[f"{state_id}/{name}"] = policy_problems(document)
    assert problems == {}


def test_orchestrator_role_touches_only_its_own_resources(
    highstates: dict[tuple[str, str], Any],
) -> None:
    ((_, _, args),) = [
        s
        for s in cloud_states(highstates, "prod")
        if s[1] == "aws-orchestrator_role-fluxora_iam-role_present"
    ]
    security = args["policies"]["security"]["Statement"]
    actions = [action for statement in security for action in statement["Action"]]
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in actions), actions
    resources = [
        resource
        for name, policy in args["policies"].items()
        if name != "security"  # read only, as checked above
        for statement in policy["Statement"]
        for resource in (
            [statement["Resource"]]
            if isinstance(statement["Resource"], str)
            else statement["Resource"]
        )
    ]
    named = [r for r in resources if r != "*"]
    assert all("fluxora-prod-" in r or r == "ref:route53-zone:fluxora.example." for r in named), (
        named
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_wal_archiver_role_reaches_only_its_servers_wal_in_both_regions(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    ((_, _, args),) = [
        s
        for s in cloud_states(highstates, env)
        if s[1] == "aws-iam-wal_archiver-fluxora_iam-role_present"
    ]
    assert args["name"] == f"fluxora-{env}-wal-archiver"
    (policy,) = args["policies"].values()
    listing, objects = policy["Statement"]
    buckets = [f"arn:aws:s3:::fluxora-{env}-backups", f"arn:aws:s3:::fluxora-{env}-backups-dr"]
    assert listing["Resource"] == buckets
    assert listing["Condition"] == {"StringLikeIfExists": {"s3:prefix": [f"wal/fluxora-{env}/*"]}}
    assert objects["Resource"] == [f"{bucket}/wal/fluxora-{env}/*" for bucket in buckets]
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::fluxora-prod-backups"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*"},
    ],
    ids=["wildcard-action", "resource-star-object", "resource-star-asg"],
)
def test_policy_check_fails_on_wildcards(statement: dict[str, Any]) -> None:
    assert policy_problems({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_instance_roles_never_reach_the_backups_buckets(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    for module, state_id, args in cloud_states(highstates, env):
        if module == "fluxora_iam" and state_id in (
            "aws-iam-api-fluxora_iam-role_present",
            "aws-iam-worker-fluxora_iam-role_present",
        ):
            assert f"fluxora-{env}-backups" not in json.dumps(args["policies"]), state_id


def test_the_deployer_may_not_change_itself_nor_attach_policies(
    deployers: dict[str, dict[str, Any]],
) -> None:
    for env, args in deployers.items():
        (deploy,) = args["policies"].values()
        allowed = {
            action for s in deploy["Statement"] if s["Effect"] == "Allow" for action in s["Action"]
        }
        assert "iam:AttachRolePolicy" not in allowed
        (deny,) = [s for s in deploy["Statement"] if s["Effect"] == "Deny"]
        assert deny["Resource"] == [f"arn:aws:iam::*:role/fluxora-{env}-deployer"]
        assert {"iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"} <= set(deny["Action"])
        resources = [
            r
            for s in deploy["Statement"]
            if s["Effect"] == "Allow"
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        ]
        named = [r for r in resources if r not in ("*",) and "route53" not in r]
        assert all(f"fluxora-{env}-" in r or ":ec2:" in r for r in named), named


# --- the security policy check over what each environment's states declare -------------------


def _bucket(args: dict[str, Any]) -> dict[str, Any]:
    # fluxora_s3.bucket_present always blocks public access and encrypts by default (its
    # contract; test_aws_apply reads both back from S3).
    return {
        "name": args["name"],
        "public_access_block": dict.fromkeys(security_policy.PUBLIC_ACCESS_FLAGS, True),
        "encryption": "aws:kms" if args.get("kms_key_id") else "AES256",
        "access_log": args.get("access_log"),
        "policy": args.get("policy"),
    }


def rendered_inventory(states: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """The security policy inventory of an environment from its rendered aws states."""
    inventory: dict[str, list[dict[str, Any]]] = {
        key: []
        for key in ("buckets", "security_groups", "launch_templates", "roles", "trails", "networks")
    }
    networks, logged = {}, set()
    for module, _, args in states:
        function = (module, args["__function__"])
        if function == ("fluxora_s3", "bucket_present"):
            inventory["buckets"].append(_bucket(args))
        elif function == ("fluxora_ec2", "security_group_present"):
            inventory["security_groups"].append(
                {"name": f"{args['name']}@{args['region']}", "ingress": args.get("ingress") or []}
            )
        elif function == ("fluxora_ec2", "launch_template_present"):
            # fluxora_ec2 sets HttpTokens=required on every template (read back from EC2).
            inventory["launch_templates"].append({"name": args["name"], "http_tokens": "required"})
        elif function == ("fluxora_iam", "role_present"):
            inventory["roles"].append({"name": args["name"], "policies": args["policies"]})
        elif function == ("fluxora_cloudtrail", "trail_present"):
            # trail_present always logs every region with log-file validation (read back).
            trail = dict.fromkeys(("multi_region", "log_file_validation", "logging"), True)
            inventory["trails"].append({"name": args["name"], **trail})
        elif function == ("fluxora_ec2", "flow_log_present"):
            logged.add(args["vpc_id"])
        elif function == ("fluxora_vpc", "network_present"):
            networks[f"ref:vpc@{args['region']}:{args['name']}"] = args
    inventory["networks"] = [
        {"name": vpc.rsplit(":", 1)[1], "region": args["region"], "flow_logs": vpc in logged}
        for vpc, args in sorted(networks.items())
    ]
    return inventory


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_environment_passes_the_security_policy_check(
    highstates: dict[tuple[str, str], Any], env: str
) -> None:
    inventory = rendered_inventory(cloud_states(highstates, env))
    assert len(inventory["buckets"]) == 6  # backups, artifacts, logs; each in both regions
    assert len(inventory["networks"]) == 2
    assert [str(finding) for finding in security_policy.check(inventory)] == []
