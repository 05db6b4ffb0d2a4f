"""The PostgreSQL family: the failover and failback actions, the `postgres_clusters` resource
(the environment's clusters) and `dr_probes` (the write probes of running drills)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.resources import Resources
from orchestrator.families.base import Family, ResourceDeps
from orchestrator.families.postgres import actions
from orchestrator.families.postgres.actions import CLUSTERS, PROBES, Clusters, Probes
from orchestrator.families.postgres.topology import ClusterConfig, Route53Endpoint, TopologyConfig


class PostgresSettings(Protocol):
    @property
    def postgres_clusters(self) -> TopologyConfig: ...


class PostgresFamily(Family[PostgresSettings]):
    name = "postgres"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def build_resources(self, deps: ResourceDeps[PostgresSettings], env: str) -> Resources:
        clusters = Clusters(env, deps.config.postgres_clusters.get(env, {}))
        return Resources().add(CLUSTERS, clusters).add(PROBES, Probes())

    def configured_names(self, config: PostgresSettings) -> Mapping[str, Mapping[str, list[str]]]:
        """The PostgreSQL clusters of each environment (failover, failback, evacuation)."""
        clusters = config.postgres_clusters
        return {"postgres_clusters": {env: sorted(names) for env, names in clusters.items()}}

    def missing(
        self, settings: PostgresSettings, env: str, action: str, params: Mapping[str, Any]
    ) -> Sequence[str]:
        name = params.get("cluster")
        if not isinstance(name, str):
            return ()
        cluster = settings.postgres_clusters.get(env, {}).get(name)
        prefix = f"postgres_clusters.{env}.{name}"
        if cluster is None:
            return (prefix,)
        return [f"{prefix}.{key}" for key in _missing_in_cluster(cluster, action, params)]


def _missing_in_cluster(
    cluster: ClusterConfig, action: str, params: Mapping[str, Any]
) -> list[str]:
    node = params.get("node")
    missing = []
    if node == "@dr" and cluster.dr_node is None:
        missing.append("dr_node")
    elif isinstance(node, str) and not node.startswith("@") and node not in cluster.nodes:
        missing.append(f"nodes.{node}")
    if action == "aws.route53.failover" and not isinstance(cluster.endpoint, Route53Endpoint):
        missing.append("endpoint (a route53 endpoint)")
    return missing
