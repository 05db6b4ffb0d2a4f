"""Built-in action families. Each module has `register(registry)`, exactly as an extension would;
add a family by adding its module to FAMILIES."""

from __future__ import annotations

from orchestrator.actions import basic, postgres
from orchestrator.core.actions import ActionRegistry

FAMILIES = (basic, postgres)


def builtin_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for family in FAMILIES:
        family.register(registry)
    return registry
