"""Where clients connect: a libpq service file (dev) or a Route53 failover record pair
(staging/prod). `current` says which node the endpoint names, `repoint` moves it, and
`plan` says what `repoint` would do (the file it writes or the boto3 call it makes).

For a cluster run by Patroni the service section lists every node (libpq multi-host with
`target_session_attrs=read-write`): clients find the leader themselves and `follow` writes
the section once; a Route53 endpoint is repointed at the leader (cross-region). The
orchestrator owns only `host`, `port`, `dbname` and `target_session_attrs` of its section:
every other setting there (user, sslmode, application_name, ...) is kept as it is.
"""

from __future__ import annotations

import configparser
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.nodes import open_connection
from orchestrator.families.postgres.topology import (
    ClusterConfig,
    Route53Endpoint,
    ServiceFileEndpoint,
)


class EndpointError(FluxoraError):
    pass


OWNED_SETTINGS = ("host", "port", "dbname", "target_session_attrs")


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
    return _apply(cluster, plan(cluster, node, aws), aws)


def follow(cluster: ClusterConfig, leader: str, aws: Any) -> dict[str, Any]:
    """After Patroni changed the leader: the multi-host section (unchanged when it is
    there already), or the Route53 record repointed at `leader`."""
    return _apply(cluster, plan_follow(cluster, leader, aws), aws)


def plan_follow(cluster: ClusterConfig, leader: str, aws: Any) -> dict[str, Any]:
    endpoint = cluster.endpoint
    if isinstance(endpoint, ServiceFileEndpoint) and cluster.patroni is not None:
        return {
            "kind": "service_file",
            "path": str(endpoint.path),
            "service": endpoint.service,
            "section": multi_host_section(cluster),
        }
    return plan(cluster, leader, aws)


def multi_host_section(cluster: ClusterConfig) -> dict[str, str]:
    """Every node of the region (not the DR node), the leader found by libpq."""
    nodes = [cluster.node(name) for name in sorted(cluster.nodes) if name != cluster.dr_node]
    return {
        "host": ",".join(node.host for node in nodes),
        "port": ",".join(str(node.port) for node in nodes),
        "dbname": cluster.dbname,
        "target_session_attrs": "read-write",
    }


def connect(cluster: ClusterConfig, aws: Any, application_name: str) -> psycopg.Connection[Any]:
    """A connection made the way clients make it: the service section's settings (the
    orchestrator's own user and password), or the node the DNS record names."""
    endpoint = cluster.endpoint
    node = next(iter(cluster.nodes.values()))
    if isinstance(endpoint, ServiceFileEndpoint) and cluster.patroni is not None:
        section = _read_service(endpoint)
        if section is None:
            raise EndpointError(f"service file {endpoint.path} has no [{endpoint.service}]")
        settings = {**section, "user": node.user, "password": node.password()}
        return psycopg.connect(
            make_conninfo("", **settings),
            connect_timeout=node.connect_timeout_seconds,
            application_name=application_name,
            autocommit=True,
        )
    name = current(cluster, aws)
    if name is None:
        raise EndpointError("the endpoint names no configured node")
    return open_connection(cluster.node(name), cluster.dbname)


def _apply(cluster: ClusterConfig, change: dict[str, Any], aws: Any) -> dict[str, Any]:
    endpoint = cluster.endpoint
    if isinstance(endpoint, ServiceFileEndpoint):
        _write_service(endpoint, change["section"])
    else:
        route53 = aws.client("route53", endpoint.region)
        route53.change_resource_record_sets(
            HostedZoneId=change["zone_id"], ChangeBatch=change["change_batch"]
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
        "zone_id": zone_id(endpoint, aws),
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


def _write_service(endpoint: ServiceFileEndpoint, section: Mapping[str, str]) -> None:
    """Set the settings we own in our section, keep every other setting and section;
    atomic (clients never read half a file)."""
    parser = _parser()
    if endpoint.path.exists():
        parser.read_string(endpoint.path.read_text(encoding="utf-8"), str(endpoint.path))
    kept = dict(parser[endpoint.service]) if parser.has_section(endpoint.service) else {}
    foreign = {k: v for k, v in kept.items() if k not in OWNED_SETTINGS}
    parser[endpoint.service] = {**section, **foreign}
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


def zone_id(endpoint: Route53Endpoint, aws: Any) -> str:
    """The hosted zone's id: configured, or looked up by the zone's name."""
    if endpoint.zone_id is not None:
        return endpoint.zone_id
    name = endpoint.zone if (endpoint.zone or "").endswith(".") else f"{endpoint.zone}."
    route53 = aws.client("route53", endpoint.region)
    zones = route53.list_hosted_zones_by_name(DNSName=name, MaxItems="1")["HostedZones"]
    if not zones or zones[0]["Name"] != name:
        raise EndpointError(f"no Route53 hosted zone named {name}")
    return str(zones[0]["Id"]).rsplit("/", 1)[-1]


def _failover_records(endpoint: Route53Endpoint, aws: Any) -> dict[str, dict[str, Any]]:
    route53 = aws.client("route53", endpoint.region)
    page = route53.list_resource_record_sets(
        HostedZoneId=zone_id(endpoint, aws),
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
