"""Who is primary and where writes go: the roles of a cluster that is not run by Patroni
(from its endpoint: a DR node restored in another region), roles named in runbooks (`@primary`,
`@replica`, `@home`, `@dr`), and the write check through the endpoint."""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres import endpoint, ha
from orchestrator.families.postgres.client import connect
from orchestrator.families.postgres.ha import Roles
from orchestrator.families.postgres.topology import ClusterConfig


class FailoverError(FluxoraError):
    """An expected failure; the message says what to do."""


def roles(cluster: ClusterConfig, aws: Any) -> Roles:
    """Patroni's leader and sync standby; without Patroni, the node the endpoint names and
    another one."""
    if cluster.patroni is not None:
        return ha.roles(cluster)
    primary = endpoint.current(cluster, aws)
    if primary is None:
        raise FailoverError("the endpoint names no configured node; repoint it by hand first")
    others = sorted(n for n in cluster.nodes if n not in (primary, cluster.dr_node))
    if not others:
        raise FailoverError(f"cluster has no node besides {primary!r} to fail over to")
    return Roles(primary=primary, replica=others[0], home=cluster.home)


def resolve_node(cluster: ClusterConfig, name: str, aws: Any) -> str:
    """A node name, or a role resolved now: `@primary` (the leader), `@replica`, `@home`
    (the designed primary), `@dr` (the DR region's node)."""
    if name == "@home":
        return cluster.home
    if name == "@dr":
        if cluster.dr_node is None:
            raise FailoverError("the cluster has no dr_node configured")
        return cluster.dr_node
    if name == "@primary" and cluster.patroni is not None:
        return ha.leader(cluster)  # with or without a replica (one may be down)
    if name in ("@primary", "@replica"):
        found = roles(cluster, aws)
        return found.primary if name == "@primary" else found.replica
    cluster.node(name)  # an unknown name fails here, naming the known ones
    return name


WRITE_CHECK_SQL = """CREATE TABLE IF NOT EXISTS fluxora_dr_write_check (
    id bigserial PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    job_id text)"""


def verify_writes(
    cluster: ClusterConfig, expect: str | None, job_id: str | None, aws: Any
) -> dict[str, Any]:
    """A row written through the endpoint, as a client would, and read back on the node we
    expect to be the writer (default: the leader now)."""
    with endpoint.connect(cluster, aws, application_name="fluxora-verify") as conn:
        conn.execute(WRITE_CHECK_SQL.encode())
        row = conn.execute(
            b"INSERT INTO fluxora_dr_write_check (job_id) VALUES (%s) RETURNING id", [job_id]
        ).fetchone()
    assert row is not None
    name = expect or roles(cluster, aws).primary
    with connect(cluster.node(name), cluster.dbname) as conn:
        found = conn.execute(
            b"SELECT count(*) FROM fluxora_dr_write_check WHERE id = %s", [row[0]]
        ).fetchone()
    if found is None or found[0] != 1:
        raise FailoverError(f"the row written through the endpoint is not on {name}")
    return {"node": name, "row_id": row[0]}
