"""The security rules (orchestrator/families/security/policy.py), each with a named bad
inventory and the finding it must produce, and a clean inventory with none."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.families.security.policy import PUBLIC_ACCESS_FLAGS, Finding, check

CLEAN: dict[str, Any] = {
    "buckets": [
        {
            "name": "fluxora-prod-backups",
            "public_access_block": dict.fromkeys(PUBLIC_ACCESS_FLAGS, True),
            "encryption": "AES256",
            "access_log": {"bucket": "fluxora-prod-logs", "prefix": "s3/fluxora-prod-backups/"},
            "policy": None,
        },
        {
            "name": "fluxora-prod-logs",
            "public_access_block": dict.fromkeys(PUBLIC_ACCESS_FLAGS, True),
            "encryption": "AES256",
            "access_log": None,
            "policy": {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Action": "s3:*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ]
            },
        },
    ],
    "security_groups": [
        {"name": "fluxora-prod-api", "ingress": [{"port": 443, "cidr": "0.0.0.0/0"}]},
        {
            "name": "fluxora-prod-db",
            "ingress": [{"port": 5432, "source_group": "fluxora-prod-api"}],
        },
    ],
    "launch_templates": [{"name": "fluxora-prod-api", "http_tokens": "required"}],
    "roles": [
        {
            "name": "fluxora-prod-api",
            "policies": {
                "artifacts": {
                    "Statement": [
                        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:x"]}
                    ]
                }
            },
        }
    ],
    "trails": [{"name": "t", "multi_region": True, "log_file_validation": True, "logging": True}],
    "networks": [{"name": "vpc@eu-west-1", "region": "eu-west-1", "flow_logs": True}],
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    inventory = copy.deepcopy(CLEAN)
    node: Any = inventory
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return inventory


BAD = {
    "public-access-block-off": (
        _with(["buckets", 0, "public_access_block", "BlockPublicPolicy"], False),
        Finding(
            "fluxora-prod-backups",
            "public-bucket",
            "public access not blocked: ['BlockPublicPolicy']",
        ),
    ),
    "policy-allows-anyone": (
        _with(
            ["buckets", 0, "policy"],
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]},
        ),
        Finding(
            "fluxora-prod-backups", "public-bucket", "its policy allows anyone, unconditionally"
        ),
    ),
    "unencrypted": (
        _with(["buckets", 0, "encryption"], None),
        Finding("fluxora-prod-backups", "unencrypted-bucket", "no default encryption"),
    ),
    "ssh-from-anywhere": (
        _with(["security_groups", 0, "ingress", 0], {"port": 22, "cidr": "0.0.0.0/0"}),
        Finding("fluxora-prod-api", "open-admin-port", "0.0.0.0/0 may reach port(s) [22]"),
    ),
    "all-ports-from-anywhere-v6": (
        _with(["security_groups", 1, "ingress", 0], {"protocol": "-1", "cidr": "::/0"}),
        Finding(
            "fluxora-prod-db",
            "open-admin-port",
            "::/0 may reach port(s) [22, 2379, 2380, 3389, 4505, 4506, 5432, 6379, 8008, "
            "8470, 9090, 9093, 9100, 9187]",
        ),
    ),
    "imdsv1": (
        _with(["launch_templates", 0, "http_tokens"], "optional"),
        Finding("fluxora-prod-api", "imdsv1", "instances may use IMDSv1 (HttpTokens)"),
    ),
    "wildcard-action": (
        _with(["roles", 0, "policies", "artifacts", "Statement", 0, "Action"], ["s3:*"]),
        Finding("fluxora-prod-api", "wildcard-iam", "artifacts: allows ['s3:*']"),
    ),
    "no-trail": (
        _with(["trails", 0, "multi_region"], False),
        Finding(
            "cloudtrail", "missing-logging", "no trail logs every region with log-file validation"
        ),
    ),
    "no-access-log": (
        _with(["buckets", 0, "access_log"], {"bucket": "fluxora-prod-backups", "prefix": "s3/"}),
        Finding("fluxora-prod-logs", "missing-logging", "no server access logs"),
    ),
    "no-flow-logs": (
        _with(["networks", 0, "flow_logs"], False),
        Finding("vpc@eu-west-1", "missing-logging", "no VPC flow logs"),
    ),
}


def test_a_clean_inventory_has_no_finding() -> None:
    assert check(CLEAN) == []


@pytest.mark.parametrize("case", sorted(BAD), ids=sorted(BAD))
def test_each_rule_names_the_resource_and_rule(case: str) -> None:
    inventory, finding = BAD[case]
    assert check(inventory) == [finding]
