"""The basic family: its actions only."""

from __future__ import annotations

from orchestrator.core.actions import ActionRegistry
from orchestrator.families.base import Family
from orchestrator.families.basic import actions


class BasicFamily(Family[object]):
    name = "basic"

    def register(self, registry: ActionRegistry) -> None:
        actions.register(registry)
