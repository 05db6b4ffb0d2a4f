"""Built-in action families, each registered exactly as an extension would be; add a family by
adding its module to FAMILIES.

A family module has `register(registry)` unless it only builds resources (`aws`). It may
also define:
- `build_resources(config, env) -> dict[str, Any]`: services its actions use through
  `ctx.resource(name)` (see `orchestrator.resources`);
- `define_tables(metadata)`: its own store tables (see `orchestrator.store.schema`);
- `build_hooks(deps: HookDeps) -> Sequence[RunHook]`: executor hooks, e.g. metrics updated from
  step outputs and journals (see `orchestrator.executor.runner`).
"""

from __future__ import annotations

from orchestrator.actions import aws, aws_asg, basic, dr, dr_postgres, postgres
from orchestrator.core.actions import ActionRegistry
from orchestrator.executor.runner import HookBuilder
from orchestrator.resources import ResourceBuilder
from orchestrator.store.schema import TableDefiner

FAMILIES = (aws, aws_asg, basic, postgres, dr, dr_postgres)


def builtin_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for family in FAMILIES:
        if hasattr(family, "register"):
            family.register(registry)
    return registry


def family_tables() -> list[TableDefiner]:
    return [f.define_tables for f in FAMILIES if hasattr(f, "define_tables")]


def resource_builders() -> list[tuple[str, ResourceBuilder]]:
    return [(f.__name__, f.build_resources) for f in FAMILIES if hasattr(f, "build_resources")]


def hook_builders() -> list[HookBuilder]:
    return [f.build_hooks for f in FAMILIES if hasattr(f, "build_hooks")]
