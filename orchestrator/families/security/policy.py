"""Security rules over one environment's cloud resources: an inventory in, findings out.

Pure (no AWS, no Salt, no I/O), so that the same rules judge what the rendered states declare
(tests/integration/salt/test_aws_policy.py) and what AWS describes for a live environment
(`inventory.py`, the `security.check` action). The inventory is plain data:

    buckets:          [{name, public_access_block: {BlockPublicAcls: bool, ...}, encryption:
                        "AES256" | "aws:kms" | None, access_log: {bucket, prefix} | None,
                        policy: dict | None}]
    security_groups:  [{name, ingress: [{protocol, port, to_port, cidr | source_group}]}]
    launch_templates: [{name, http_tokens: "required" | "optional"}]
    roles:            [{name, policies: {name: policy document}}]
    trails:           [{name, multi_region, log_file_validation, logging}]
    networks:         [{name, region, flow_logs: bool}]

A bucket that receives other buckets' access logs needs none itself (it would log its own
log writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Ports that must never be open to the internet: SSH, RDP, Salt, PostgreSQL, Patroni, etcd,
# Redis, the orchestrator and the monitoring stack.
ADMIN_PORTS = frozenset(
    {22, 3389, 4505, 4506, 5432, 8008, 2379, 2380, 6379, 8470, 9090, 9093, 9100, 9187}
)
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


@dataclass(frozen=True, order=True)
class Finding:
    resource: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.rule}: {self.detail}"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _listed(principal.get("AWS", []))


def _public_bucket(inventory: dict[str, Any]) -> Iterator[Finding]:
    for bucket in inventory.get("buckets", []):
        block = bucket.get("public_access_block") or {}
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if not block.get(flag)]
        if off:
            yield Finding(bucket["name"], "public-bucket", f"public access not blocked: {off}")
        for statement in (bucket.get("policy") or {}).get("Statement", []):
            if (
                statement.get("Effect") == "Allow"
                and _is_everyone(statement.get("Principal"))
                and not statement.get("Condition")
            ):
                yield Finding(
                    bucket["name"], "public-bucket", "its policy allows anyone, unconditionally"
                )


def _unencrypted_bucket(inventory: dict[str, Any]) -> Iterator[Finding]:
    for bucket in inventory.get("buckets", []):
        if bucket.get("encryption") not in ("AES256", "aws:kms", "aws:kms:dsse"):
            yield Finding(bucket["name"], "unencrypted-bucket", "no default encryption")


def _ports(rule: dict[str, Any]) -> range:
    if str(rule.get("protocol", "tcp")) in ("-1", "all"):
        return range(0, 65536)
    port = int(rule["port"])
    return range(port, int(rule.get("to_port", port)) + 1)


def _open_admin_port(inventory: dict[str, Any]) -> Iterator[Finding]:
    for group in inventory.get("security_groups", []):
        for rule in group.get("ingress", []):
            if rule.get("cidr") not in ANYWHERE:
                continue
            exposed = sorted(ADMIN_PORTS.intersection(_ports(rule)))
            if exposed:
                yield Finding(
                    group["name"], "open-admin-port", f"{rule['cidr']} may reach port(s) {exposed}"
                )


def _imdsv1(inventory: dict[str, Any]) -> Iterator[Finding]:
    for template in inventory.get("launch_templates", []):
        if template.get("http_tokens") != "required":
            yield Finding(template["name"], "imdsv1", "instances may use IMDSv1 (HttpTokens)")


def _wildcard_iam(inventory: dict[str, Any]) -> Iterator[Finding]:
    for role in inventory.get("roles", []):
        for name, document in sorted(role.get("policies", {}).items()):
            for statement in document.get("Statement", []):
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement:
                    yield Finding(role["name"], "wildcard-iam", f"{name}: allows NotAction")
                wild = [a for a in _listed(statement.get("Action", [])) if "*" in a]
                if wild:
                    yield Finding(role["name"], "wildcard-iam", f"{name}: allows {wild}")


def _missing_logging(inventory: dict[str, Any]) -> Iterator[Finding]:
    trails = [
        t
        for t in inventory.get("trails", [])
        if t.get("multi_region") and t.get("log_file_validation") and t.get("logging")
    ]
    if not trails:
        yield Finding(
            "cloudtrail",
            "missing-logging",
            "no trail logs every region with log-file validation",
        )
    targets = {(b.get("access_log") or {}).get("bucket") for b in inventory.get("buckets", [])}
    for bucket in inventory.get("buckets", []):
        if not bucket.get("access_log") and bucket["name"] not in targets:
            yield Finding(bucket["name"], "missing-logging", "no server access logs")
    for network in inventory.get("networks", []):
        if not network.get("flow_logs"):
            yield Finding(network["name"], "missing-logging", "no VPC flow logs")


RULES: dict[str, Callable[[dict[str, Any]], Iterator[Finding]]] = {
    "public-bucket": _public_bucket,
    "unencrypted-bucket": _unencrypted_bucket,
    "open-admin-port": _open_admin_port,
    "imdsv1": _imdsv1,
    "wildcard-iam": _wildcard_iam,
    "missing-logging": _missing_logging,
}


def check(inventory: dict[str, Any]) -> list[Finding]:
    """Every rule over `inventory`, findings sorted by resource and rule."""
    return sorted(finding for rule in RULES.values() for finding in rule(inventory))
