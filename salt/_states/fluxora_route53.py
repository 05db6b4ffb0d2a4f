"""Route53 hosted zones, health checks and failover records.

Written on plain boto3: saltext-boto3 1.2.0 has no health-check state, and its records and
zones carry no tags. Records themselves cannot be tagged in Route53; their zone and health
checks are.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_route53"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_route53 needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _test() -> bool:
    return bool(__opts__.get("test"))


def _fail(kind: str, name: str, exc: CommandExecutionError) -> dict[str, Any]:
    return dict(_u("refused")(kind, name, exc, _test()))


def _tag(r53: Any, kind: str, resource_id: str | None, tags: dict[str, str]) -> None:
    _u("call")(
        f"{kind} tags",
        r53.change_tags_for_resource,
        ResourceType=kind,
        ResourceId=resource_id,
        AddTags=_u("tag_list")(tags),
    )


def _existing(found: str | None, what: str) -> str:
    if found is None:
        raise _u("not_yet_created")(what)
    return found


def zone_present(name: str, tags: dict[str, str], comment: str = "") -> dict[str, Any]:
    """Ensure the public hosted zone `name` (with its trailing dot) exists, tagged."""
    try:
        r53 = _u("client")("route53")
        tags = _u("check_tags")(tags)
    except CommandExecutionError as exc:
        return _fail("hosted zone", name, exc)
    call = _u("call")
    desired = {"tags": tags}

    def read() -> dict[str, Any] | None:
        found = _u("zone_id")(r53, name)
        if found is None:
            return None
        answer = call(
            "zone tags", r53.list_tags_for_resource, ResourceType="hostedzone", ResourceId=found
        )
        return {"tags": _u("tag_dict")(answer["ResourceTagSet"].get("Tags"))}

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            call(
                "create zone",
                r53.create_hosted_zone,
                Name=name,
                CallerReference=name,
                HostedZoneConfig={"Comment": comment, "PrivateZone": False},
            )
        _tag(r53, "hostedzone", _u("zone_id")(r53, name), tags)

    return _u("converge")(name, "hosted zone", read, desired, write, _test())


def _check_config(
    ip: str,
    port: int,
    check_type: str,
    path: str,
    fqdn: str | None,
    failure_threshold: int,
    request_interval: int,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "IPAddress": ip,
        "Port": int(port),
        "Type": check_type,
        "ResourcePath": path,
        "FailureThreshold": int(failure_threshold),
        "RequestInterval": int(request_interval),
    }
    if fqdn:
        config["FullyQualifiedDomainName"] = fqdn
    return config


def health_check_present(
    name: str,
    ip: str,
    tags: dict[str, str],
    port: int = 443,
    check_type: str = "HTTPS",
    path: str = "/healthz",
    fqdn: str | None = None,
    failure_threshold: int = 3,
    request_interval: int = 30,
) -> dict[str, Any]:
    """Ensure a health check tagged Name=`name` probes `ip:port path`."""
    try:
        r53 = _u("client")("route53")
        tags = _u("check_tags")(dict(tags, Name=name))
    except CommandExecutionError as exc:
        return _fail("health check", name, exc)
    config = _check_config(ip, port, check_type, path, fqdn, failure_threshold, request_interval)
    desired = {"config": config, "tags": tags}
    call = _u("call")

    def read() -> dict[str, Any] | None:
        found = _u("health_check_id")(r53, name)
        if found is None:
            return None
        check = call("health check", r53.get_health_check, HealthCheckId=found)["HealthCheck"]
        current = check["HealthCheckConfig"]
        answer = call(
            "tags", r53.list_tags_for_resource, ResourceType="healthcheck", ResourceId=found
        )
        return {
            "config": {key: current.get(key) for key in config},
            "tags": _u("tag_dict")(answer["ResourceTagSet"].get("Tags")),
        }

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
            created = call(
                "create health check",
                r53.create_health_check,
                CallerReference=f"{name}-{digest}",
                HealthCheckConfig=config,
            )
            found = created["HealthCheck"]["Id"]
        else:
            found = _u("health_check_id")(r53, name)
            if "config" in keys:
                update = {
                    key: value
                    for key, value in config.items()
                    if key not in ("Type", "RequestInterval")
                }
                call("update health check", r53.update_health_check, HealthCheckId=found, **update)
        _tag(r53, "healthcheck", found, tags)

    return _u("converge")(name, "health check", read, desired, write, _test())


def failover_record_present(
    name: str,
    zone: str,
    record_type: str,
    values: list[str],
    failover: str,
    set_identifier: str,
    health_check: str | None = None,
    ttl: int = 60,
) -> dict[str, Any]:
    """Ensure the PRIMARY or SECONDARY failover record `name` answers `values`.

    health_check: the Name tag of the health check that decides whether this record answers.
    """
    if failover not in ("PRIMARY", "SECONDARY"):
        return _fail("record", name, CommandExecutionError("failover must be PRIMARY or SECONDARY"))
    call = _u("call")
    try:
        r53 = _u("client")("route53")
        zone_id = _existing(_u("zone_id")(r53, zone), f"hosted zone {zone}")
        record: dict[str, Any] = {
            "Name": name,
            "Type": record_type,
            "SetIdentifier": set_identifier,
            "Failover": failover,
            "TTL": int(ttl),
            "ResourceRecords": [{"Value": value} for value in sorted(values)],
        }
        if health_check:
            check = _u("health_check_id")(r53, health_check)
            record["HealthCheckId"] = _existing(check, f"health check {health_check}")
    except CommandExecutionError as exc:
        return _fail("record", f"{name} {failover}", exc)
    desired = {"record": record}

    def read() -> dict[str, Any] | None:
        answer = call(
            "records",
            r53.list_resource_record_sets,
            HostedZoneId=zone_id,
            StartRecordName=name,
            StartRecordType=record_type,
            MaxItems="100",
        )
        for item in answer.get("ResourceRecordSets", []):
            if (item["Name"], item["Type"], item.get("SetIdentifier")) == (
                name,
                record_type,
                set_identifier,
            ):
                current = {key: item.get(key) for key in record}
                current["ResourceRecords"] = sorted(
                    current["ResourceRecords"] or [], key=lambda r: r["Value"]
                )
                return {"record": current}
        return None

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        call(
            "upsert record",
            r53.change_resource_record_sets,
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
        )

    return _u("converge")(f"{name} {failover}", "record", read, desired, write, _test())
