"""Where clients connect: a libpq service file (dev) or a Route53 failover record pair
(staging/prod). `current` says which node the endpoint names, `repoint` moves it, and
`plan` says what `repoint` would do (the file it writes or the boto3 call it makes)."""

from __future__ import annotations

import configparser
import os
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.topology import (
    ClusterConfig,
    Route53Endpoint,
    ServiceFileEndpoint,
)


class EndpointError(FluxoraError):
    pass


def current(cluster: ClusterConfig, aws: Any) -> str | None:
    """The node the endpoint names now (None when it names no configured node)."""
    endpoint = cluster.endpoint
    if isinstance(endpoint, ServiceFileEndpoint):
        section = _read_service(endpoint)
        if section is None:
            return None
        return next(
            (
                name
                for name, node in cluster.nodes.items()
                if section.get("host") == node.host and section.get("port") == str(node.port)
            ),
            None,
        )
    records = _failover_records(endpoint, aws)
    primary = records.get("PRIMARY")
    return cluster.node_named_by(_value(primary)) if primary else None


def repoint(cluster: ClusterConfig, node: str, aws: Any) -> dict[str, Any]:
    """Point the endpoint at `node`; return what was done (as `plan` describes it)."""
    change = plan(cluster, node, aws)
    endpoint = cluster.endpoint
    if isinstance(endpoint, ServiceFileEndpoint):
        _write_service(endpoint, change["section"])
    else:
        route53 = aws.client("route53", endpoint.region)
        route53.change_resource_record_sets(
            HostedZoneId=endpoint.zone_id, ChangeBatch=change["change_batch"]
        )
    return change


def plan(cluster: ClusterConfig, node: str, aws: Any) -> dict[str, Any]:
    target = cluster.node(node)
    endpoint = cluster.endpoint
    if isinstance(endpoint, ServiceFileEndpoint):
        section = {"host": target.host, "port": str(target.port), "dbname": cluster.dbname}
        return {
            "kind": "service_file",
            "path": str(endpoint.path),
            "service": endpoint.service,
            "section": section,
        }
    return {
        "kind": "route53",
        "call": "route53.change_resource_record_sets",
        "zone_id": endpoint.zone_id,
        "change_batch": _change_batch(endpoint, target.dns_value(), aws),
    }


# --- libpq service file ----------------------------------------------------------------------


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _read_service(endpoint: ServiceFileEndpoint) -> dict[str, str] | None:
    parser = _parser()
    try:
        parser.read_string(endpoint.path.read_text(encoding="utf-8"), str(endpoint.path))
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error) as exc:
        raise EndpointError(f"service file {endpoint.path}: {exc}") from exc
    return dict(parser[endpoint.service]) if parser.has_section(endpoint.service) else None


def _write_service(endpoint: ServiceFileEndpoint, section: dict[str, str]) -> None:
    """Replace our section, keep the others; atomic (clients never read half a file)."""
    parser = _parser()
    if endpoint.path.exists():
        parser.read_string(endpoint.path.read_text(encoding="utf-8"), str(endpoint.path))
    parser[endpoint.service] = section
    lines = ["# Managed by fluxora-orch (endpoint.repoint): connect with service=NAME."]
    for name in parser.sections():
        lines += ["", f"[{name}]", *(f"{k}={v}" for k, v in parser[name].items())]
    endpoint.path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=endpoint.path.parent, prefix=".pg_service.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, endpoint.path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EndpointError(f"cannot write service file {endpoint.path}: {exc}") from exc


# --- Route53 failover pair ---------------------------------------------------------------------


def _failover_records(endpoint: Route53Endpoint, aws: Any) -> dict[str, dict[str, Any]]:
    route53 = aws.client("route53", endpoint.region)
    page = route53.list_resource_record_sets(
        HostedZoneId=endpoint.zone_id,
        StartRecordName=endpoint.fqdn,
        StartRecordType=endpoint.record_type,
    )
    return {
        record["Failover"]: record
        for record in page["ResourceRecordSets"]
        if record["Name"] == endpoint.fqdn
        and record["Type"] == endpoint.record_type
        and "Failover" in record
    }


def _value(record: dict[str, Any]) -> str:
    return str(record["ResourceRecords"][0]["Value"])


def _change_batch(endpoint: Route53Endpoint, value: str, aws: Any) -> dict[str, Any]:
    """PRIMARY names the new writer; SECONDARY the previous writer (when it changes)."""
    records = _failover_records(endpoint, aws)
    previous = records.get("PRIMARY")
    changes = [_upsert(endpoint, "PRIMARY", value, previous)]
    if previous is not None and _value(previous) != value:
        changes.append(_upsert(endpoint, "SECONDARY", _value(previous), records.get("SECONDARY")))
    return {"Comment": f"fluxora-orch: writer is {value}", "Changes": changes}


def _upsert(
    endpoint: Route53Endpoint, role: str, value: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Name": endpoint.fqdn,
        "Type": endpoint.record_type,
        "SetIdentifier": (existing or {}).get("SetIdentifier", role.lower()),
        "Failover": role,
        "TTL": endpoint.ttl,
        "ResourceRecords": [{"Value": value}],
    }
    if existing and "HealthCheckId" in existing:
        record["HealthCheckId"] = existing["HealthCheckId"]
    return {"Action": "UPSERT", "ResourceRecordSet": record}
