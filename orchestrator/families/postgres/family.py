"""The PostgreSQL family: the failover and failback actions, the `postgres_clusters` resource
(the environment's clusters) and `dr_probes` (the write probes of running drills)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.core.actions import ActionRegistry
from orchestrator.families.base import Family, ResourceDeps
from orchestrator.families.postgres import actions
from orchestrator.families.postgres.actions import Clusters, Probes
from orchestrator.families.postgres.topology import TopologyConfig


class PostgresSettings(Protocol):
    @property
    def postgres_clusters(self) -> TopologyConfig: ...


class PostgresFamily(Family[PostgresSettings]):
    name = "postgres"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)

    def build_resources(self, deps: ResourceDeps[PostgresSettings], env: str) -> Mapping[str, Any]:
        topology = deps.config.postgres_clusters
        return {"postgres_clusters": Clusters(env, topology.get(env, {})), "dr_probes": Probes()}
