"""The `postgres_clusters:` config section: per environment, each cluster's nodes and the
service endpoint its clients use.

```yaml
postgres_clusters:
  dev:
    main:
      dbname: fluxora            # the database clients use (probe and write checks go there)
      home: pg-a                 # the node that is primary when the topology is as designed
      nodes:
        pg-a: {host: 127.0.0.1, port: 5433, patroni_url: "http://127.0.0.1:8008",
               fault_command: [fluxora-patroni, kill, /etc/patroni/a.yml],
               start_command: [fluxora-patroni, start, /etc/patroni/a.yml]}
        pg-b: {host: 127.0.0.1, port: 5434, patroni_url: "http://127.0.0.1:8009"}
      endpoint: {kind: service_file, path: /etc/fluxora/pg_service.conf, service: fluxora-main}
      patroni: {synchronous: true}    # username + password_env/password_file: REST auth
  staging:
    main:
      ...
      nodes:
        db1: {host: db1.staging.internal, dns_name: db1.staging.internal,
              patroni_url: "http://db1.staging.internal:8008"}
      endpoint: {kind: route53, zone_id: Z123, record: db.staging.fluxora.internal}
      dr_node: db-dr                # region-evacuation points the record here
```
A Patroni cluster has a `patroni:` section and each node its `patroni_url`; Patroni decides
who leads, the orchestrator asks it (switchover, failover) and drills it (`fault_command`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from orchestrator.core.config import Section
from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.client import ServerConfig, read_password


class NodeConfig(ServerConfig):
    """One PostgreSQL node: how to reach it (host, port, user), its Patroni REST API, and the
    commands drills and fencing run on it (argv, e.g. through `salt HOST cmd.run`)."""

    dns_name: str | None = None  # what the DNS endpoint points at; default: host
    patroni_url: str | None = Field(default=None, pattern=r"^https?://")  # its REST API
    # Drills: crash the whole node at once, as a power loss would (`fluxora-patroni kill`);
    # start_command brings it back (Patroni rejoins it as a replica).
    fault_command: list[str] | None = None
    start_command: list[str] | None = None
    # Stop the node's postmaster at once: postgres.fence_orphans runs it on a writer that is
    # not Patroni's leader.
    fence_command: list[str] | None = None
    # The Salt minion on the node's host: work that must run there (a base backup reads the
    # data directory) is dispatched to it. None: the node is on the orchestrator's host.
    minion: str | None = None

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
    record the other one. The hosted zone is named by its id or by its name (`zone`, as the
    Salt states create it: the id is AWS-assigned, looked up when the endpoint is used)."""

    kind: Literal["route53"]
    zone_id: str | None = None
    zone: str | None = None
    record: str
    record_type: Literal["CNAME", "A"] = "CNAME"
    ttl: int = Field(default=30, ge=1)
    region: str | None = None  # default: aws.region

    @model_validator(mode="after")
    def _one_zone(self) -> Self:
        if (self.zone_id is None) == (self.zone is None):
            raise ValueError("set zone_id or zone (the hosted zone's name), exactly one")
        return self

    @property
    def fqdn(self) -> str:
        return self.record if self.record.endswith(".") else f"{self.record}."


EndpointConfig = Annotated[ServiceFileEndpoint | Route53Endpoint, Field(discriminator="kind")]


class PatroniSettings(Section):
    """How the orchestrator reaches the nodes' Patroni REST API (each node's `patroni_url`):
    `username` and a password (`password_env` or `password_file`) when the API requires
    authentication; `synchronous` as the cluster's DCS config has it (only the sync standby
    may then take over)."""

    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    synchronous: bool = True

    def password(self) -> str | None:
        return read_password(self.password_env, self.password_file)


class ClusterConfig(Section):
    dbname: str = "postgres"
    home: str
    nodes: dict[str, NodeConfig] = Field(min_length=2)
    endpoint: EndpointConfig
    dr_node: str | None = None
    patroni: PatroniSettings | None = None  # the cluster is run by Patroni

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
