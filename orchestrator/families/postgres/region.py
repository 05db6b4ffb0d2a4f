"""The home region of a cluster in a region evacuation: every node but the DR node. An
evacuation restores into the DR node only once no home node accepts writes (a drill crashes
them first), and a rolled-back drill starts them again only once the DR node takes none:
never two writers."""

from __future__ import annotations

import threading
from typing import Any

from orchestrator.families.postgres.ha import HaError, writers
from orchestrator.families.postgres.nodes import node_state, run_command, wait_for
from orchestrator.families.postgres.topology import ClusterConfig


def dr_node(cluster: ClusterConfig) -> str:
    if cluster.dr_node is None:
        raise HaError("the cluster has no dr_node configured")
    return cluster.dr_node


def home_nodes(cluster: ClusterConfig) -> list[str]:
    return sorted(name for name in cluster.nodes if name != dr_node(cluster))


def _run_each(cluster: ClusterConfig, command: str, names: list[str]) -> list[str]:
    ran = []
    for name in names:
        argv = getattr(cluster.node(name), command)
        if argv is None:
            raise HaError(f"node {name} has no {command}")
        run_command(list(argv), f"{command} of {name}", 60)
        ran.append(name)
    return ran


def cut_home(cluster: ClusterConfig, inject_fault: bool) -> dict[str, Any]:
    """A drill (`inject_fault`) crashes every home node (its fault_command); then no home node
    may accept writes: the region is lost, or the evacuation would make a second writer."""
    crashed = _run_each(cluster, "fault_command", home_nodes(cluster)) if inject_fault else []
    home_writers = [name for name in writers(cluster) if name != dr_node(cluster)]
    if home_writers:
        raise HaError(
            f"home node(s) {', '.join(home_writers)} still accept writes: the home region is "
            "not lost; fence them first (or fail over inside the region)"
        )
    return {"crashed": crashed, "home_writers": home_writers}


def start_home(
    cluster: ClusterConfig, timeout: float, cancelled: threading.Event
) -> dict[str, Any]:
    """Bring a drill's crashed home nodes back (start_command, those that do not answer) and
    wait for a home writer; refused while the DR node accepts writes."""
    if dr_node(cluster) in writers(cluster):
        raise HaError(f"the DR node {cluster.dr_node} accepts writes: home left down")
    down = [n for n in home_nodes(cluster) if not node_state(cluster.node(n)).reachable]
    started = _run_each(cluster, "start_command", down)
    wait_for(lambda: bool(writers(cluster)), timeout, "a home node accepting writes", cancelled)
    return {"started": started, "writers": writers(cluster)}
