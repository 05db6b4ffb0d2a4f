"""Metrics of the daemon, declared once per registry (tests pass a fresh CollectorRegistry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Info

from orchestrator import __version__


class Metrics:
    """Every metric the daemon exports; families add theirs in their own modules."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Info(
            "fluxora_build", "Version of the running orchestrator.", registry=registry
        )
        self.build_info.info({"version": __version__})
