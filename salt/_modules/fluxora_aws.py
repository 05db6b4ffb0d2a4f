"""What every Fluxora AWS state module shares: clients, tags, references, the state contract.

An execution module (called as __salt__["fluxora_aws.*"]) because Salt 3007 no longer gives
state modules `__utils__`; it is a helper library, not a CLI surface.

The state modules in salt/_states/fluxora_*.py describe a resource as a plain "view" (a dict of
the settings we manage), read the current view from AWS, and hand both to ``converge``, which
keeps Salt's state contract: ``name/result/comment/changes`` with ``old``/``new``, an early
return when nothing differs, ``result: None`` under ``test=True``, and a failed result (not a
traceback) for any AWS error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    HAS_BOTO3 = True
except ImportError:  # pragma: no cover - boto3 is a dependency of the project
    HAS_BOTO3 = False

REQUIRED_TAGS = ("Project", "Environment", "Owner", "CostCenter", "ManagedBy")


class NotYetCreated(CommandExecutionError):
    """A resource this one needs (a VPC, a role, a hosted zone) does not exist yet: on an empty
    account the same apply creates it first, so a plan shows this one as known after apply."""


KNOWN_AFTER_APPLY = "(known after apply)"


def not_yet_created(what: str) -> NotYetCreated:
    """The error for a prerequisite that does not exist yet (for states: they cannot import)."""
    return NotYetCreated(f"{what} does not exist (yet): apply it first")


def __virtual__() -> Any:
    if not HAS_BOTO3:
        return (False, "fluxora_aws needs boto3")
    return "fluxora_aws"


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client; credentials and endpoint (AWS_ENDPOINT_URL) come from the environment."""
    return boto3.client(service, region_name=region)


def call(what: str, func: Callable[..., Any], **kwargs: Any) -> Any:
    """Call one AWS API; any AWS error becomes a CommandExecutionError naming `what`."""
    try:
        return func(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise CommandExecutionError(f"{what}: {exc}") from exc


def error_code(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


def check_tags(tags: dict[str, str] | None) -> dict[str, str]:
    """The tags every resource carries; a missing or empty one is an error, not a default."""
    tags = dict(tags or {})
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        raise CommandExecutionError(f"required tags missing or empty: {', '.join(missing)}")
    return {str(key): str(value) for key, value in tags.items()}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in tags or []}


def resolve(value: Any, resolver: Callable[[str, str], str]) -> Any:
    """Replace `ref:<kind>:<name>` strings anywhere in `value` with resolver(kind, name).

    Policies name resources whose ids AWS assigns at creation (a hosted zone's id, an Auto
    Scaling group's ARN); pillar names them by reference so that no policy needs a wildcard.
    """
    if isinstance(value, str) and value.startswith("ref:"):
        _, kind, name = value.split(":", 2)
        return resolver(kind, name)
    if isinstance(value, list):
        return [resolve(item, resolver) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, resolver) for key, item in value.items()}
    return value


def refused(kind: str, name: str, exc: CommandExecutionError, test: bool) -> dict[str, Any]:
    """The state's answer when it could not work out its resource: a failure naming it, except
    under test=True when only a prerequisite the same apply creates is missing (result None and
    the whole resource known after apply, as a Terraform plan shows it)."""
    if test and isinstance(exc, NotYetCreated):
        return {
            "name": name,
            "result": None,
            "comment": f"{kind} {name} would be created after what it needs: {exc}",
            "changes": {"old": None, "new": KNOWN_AFTER_APPLY},
        }
    return {"name": name, "result": False, "comment": f"{kind} {name}: {exc}", "changes": {}}


def _differing(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[str]:
    if current is None:
        return sorted(desired)
    return sorted(key for key in desired if current.get(key) != desired[key])


def converge(
    name: str,
    kind: str,
    read: Callable[[], dict[str, Any] | None],
    desired: dict[str, Any],
    write: Callable[[dict[str, Any] | None, list[str]], None],
    test: bool,
) -> dict[str, Any]:
    """Bring resource `name` to `desired`; `write(current, keys)` changes only `keys`."""
    ret: dict[str, Any] = {"name": name, "result": True, "comment": "", "changes": {}}
    try:
        current = read()
        keys = _differing(current, desired)
        if not keys:
            ret["comment"] = f"{kind} {name} is in the desired state"
            return ret
        old = None if current is None else {key: current.get(key) for key in keys}
        changes = {"old": old, "new": {key: desired[key] for key in keys}}
        verb = "created" if current is None else f"updated ({', '.join(keys)})"
        if test:
            ret.update(result=None, comment=f"{kind} {name} would be {verb}", changes=changes)
            return ret
        write(current, keys)
    except CommandExecutionError as exc:
        return refused(kind, name, exc, test)
    ret.update(comment=f"{kind} {name} {verb}", changes=changes)
    return ret


# --- lookups shared by the route53 states and the reference resolver -------------------------


def zone_id(r53: Any, zone: str) -> str | None:
    """The id (without /hostedzone/) of the public hosted zone named `zone`, or None."""
    zone = zone if zone.endswith(".") else f"{zone}."
    answer = call(f"hosted zone {zone}", r53.list_hosted_zones_by_name, DNSName=zone, MaxItems="1")
    for item in answer.get("HostedZones", []):
        if item["Name"] == zone:
            return str(item["Id"]).rsplit("/", 1)[-1]
    return None


def health_check_id(r53: Any, name: str) -> str | None:
    """The id of the health check tagged Name=`name`, or None."""
    checks = call("health checks", r53.list_health_checks).get("HealthChecks", [])
    ids = [check["Id"] for check in checks]
    for start in range(0, len(ids), 10):
        batch = ids[start : start + 10]
        answer = call(
            "health check tags",
            r53.list_tags_for_resources,
            ResourceType="healthcheck",
            ResourceIds=batch,
        )
        for item in answer.get("ResourceTagSets", []):
            if tag_dict(item.get("Tags")).get("Name") == name:
                return str(item["ResourceId"])
    return None


def _tagged(kind: str, name: str, region: str) -> str | None:
    """The id of the VPC or subnet tagged Name=`name` in `region`, or None."""
    ec2 = client("ec2", region)
    filters = [{"Name": "tag:Name", "Values": [name]}]
    if kind == "vpc":
        found = call(f"VPC {name}", ec2.describe_vpcs, Filters=filters)["Vpcs"]
        return str(found[0]["VpcId"]) if found else None
    found = call(f"subnet {name}", ec2.describe_subnets, Filters=filters)["Subnets"]
    return str(found[0]["SubnetId"]) if found else None


def role_arn(name: str, region: str | None = None) -> str | None:
    """The ARN of IAM role `name`, or None when there is no such role."""
    try:
        role = call(f"IAM role {name}", client("iam", region).get_role, RoleName=name)
    except CommandExecutionError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return str(role["Role"]["Arn"])


def resolver(region: str) -> Callable[[str, str], str]:
    """Resolve `ref:` kinds: asg, route53-zone, route53-healthcheck, iam-role, vpc, subnet
    (by Name tag: the ids fluxora_vpc.network_present's parts got). A resource of another
    region (the DR copies) is `ref:<kind>@<region>:<name>`."""

    def resolve_one(kind: str, name: str) -> str:
        kind, _, elsewhere = kind.partition("@")
        if kind in ("vpc", "subnet"):
            found = _tagged(kind, name, elsewhere or region)
            if found:
                return found
        elif kind == "asg":
            asg = client("autoscaling", elsewhere or region)
            groups = call(
                f"Auto Scaling group {name}",
                asg.describe_auto_scaling_groups,
                AutoScalingGroupNames=[name],
            )["AutoScalingGroups"]
            if groups:
                return str(groups[0]["AutoScalingGroupARN"])
        elif kind == "route53-zone":
            found = zone_id(client("route53", region), name)
            if found:
                return f"arn:aws:route53:::hostedzone/{found}"
        elif kind == "route53-healthcheck":
            found = health_check_id(client("route53", region), name)
            if found:
                return f"arn:aws:route53:::healthcheck/{found}"
        elif kind == "iam-role":
            found = role_arn(name, region)
            if found:
                return found
        else:
            raise CommandExecutionError(f"unknown reference kind {kind!r} in ref:{kind}:{name}")
        raise not_yet_created(f"ref:{kind}:{name}")

    return resolve_one
