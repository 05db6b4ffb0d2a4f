"""The `postgres_clusters:` config section: per environment, each cluster's nodes and the
service endpoint its clients use.

```yaml
postgres_clusters:
  dev:
    main:
      dbname: fluxora            # the database clients use (probe and write checks go there)
      home: pg-a                 # the node that is primary when the topology is as designed
      nodes:
        pg-a: {host: /var/run/postgresql, port: 5433, cluster: "15/a",
               data_dir: /var/lib/postgresql/15/a}
        pg-b: {host: /var/run/postgresql, port: 5434, cluster: "15/b",
               data_dir: /var/lib/postgresql/15/b}
      endpoint: {kind: service_file, path: /etc/fluxora/pg_service.conf, service: fluxora-main}
  staging:
    main:
      ...
      nodes:
        db1: {host: db1.staging.internal, dns_name: db1.staging.internal,
              stop_command: [salt, db1, cmd.run, "pg_ctlcluster 15 main stop -m fast"]}
      endpoint: {kind: route53, zone_id: Z123, record: db.staging.fluxora.internal}
      dr_node: db-dr                # region-evacuation points the record here
```
A node with `cluster` ("VERSION/NAME") is controlled locally with pg_ctlcluster and must name
its `data_dir`; any other node is stopped with `stop_command` and kept down with
`fence_command` when given, and is fenced through the endpoint alone when neither works.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from orchestrator.core.config import Section
from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.client import ServerConfig

_CLUSTER = re.compile(r"^(?P<version>\d+)/(?P<name>[A-Za-z0-9_.-]+)$")


class NodeConfig(ServerConfig):
    cluster: str | None = Field(default=None, pattern=_CLUSTER.pattern)
    data_dir: Path | None = None
    run_as: str = "postgres"  # the OS user that owns the data directory (pg_rewind, pg_basebackup)
    dns_name: str | None = None  # what the DNS endpoint points at; default: host
    stop_command: list[str] | None = None  # a remote node: how to stop it (argv)
    start_command: list[str] | None = None
    # A remote node: how to keep it from coming back as a primary (argv; for example Salt
    # writing standby.signal and disabling the unit). Run by the fence step after the stop.
    fence_command: list[str] | None = None

    @model_validator(mode="after")
    def _local_needs_data_dir(self) -> Self:
        if self.cluster and self.data_dir is None:
            raise ValueError("a node with `cluster` (controlled by pg_ctlcluster) needs data_dir")
        return self

    @property
    def version(self) -> str | None:
        match = _CLUSTER.match(self.cluster or "")
        return match.group("version") if match else None

    @property
    def cluster_name(self) -> str | None:
        match = _CLUSTER.match(self.cluster or "")
        return match.group("name") if match else None

    @property
    def bin_dir(self) -> Path | None:
        return Path(f"/usr/lib/postgresql/{self.version}/bin") if self.version else None

    def dns_value(self) -> str:
        return self.dns_name or self.host


class ServiceFileEndpoint(Section):
    """A libpq connection service file: clients connect with `service=NAME` and
    PGSERVICEFILE=path; the orchestrator rewrites the section atomically to repoint them."""

    kind: Literal["service_file"]
    path: Path
    service: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


class Route53Endpoint(Section):
    """A Route53 failover pair: the PRIMARY record holds the writable node, the SECONDARY
    record the other one."""

    kind: Literal["route53"]
    zone_id: str
    record: str
    record_type: Literal["CNAME", "A"] = "CNAME"
    ttl: int = Field(default=30, ge=1)
    region: str | None = None  # default: aws.region

    @property
    def fqdn(self) -> str:
        return self.record if self.record.endswith(".") else f"{self.record}."


EndpointConfig = Annotated[ServiceFileEndpoint | Route53Endpoint, Field(discriminator="kind")]


class ClusterConfig(Section):
    dbname: str = "postgres"
    home: str
    nodes: dict[str, NodeConfig] = Field(min_length=2)
    endpoint: EndpointConfig
    dr_node: str | None = None

    @model_validator(mode="after")
    def _names_known(self) -> Self:
        for key in ("home", "dr_node"):
            name = getattr(self, key)
            if name is not None and name not in self.nodes:
                known = ", ".join(sorted(self.nodes))
                raise ValueError(f"{key}: no node {name!r} (nodes: {known})")
        return self

    def node(self, name: str) -> NodeConfig:
        try:
            return self.nodes[name]
        except KeyError:
            raise UnknownNodeError(name, sorted(self.nodes)) from None

    def node_named_by(self, dns_value: str) -> str | None:
        return next((n for n, c in self.nodes.items() if c.dns_value() == dns_value), None)


class UnknownClusterError(FluxoraError, LookupError):
    def __init__(self, env: str, name: str, known: list[str]) -> None:
        listed = ", ".join(known) or f"none; add them under postgres_clusters.{env}"
        super().__init__(f"no PostgreSQL cluster {name!r} configured for env {env!r} ({listed})")


class UnknownNodeError(FluxoraError, LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no node {name!r} in the cluster (nodes: {', '.join(known)})")


TopologyConfig = dict[str, dict[str, ClusterConfig]]  # env -> cluster name -> cluster
