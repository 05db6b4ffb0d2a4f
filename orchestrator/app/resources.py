"""Per-environment resources for actions (`ActionContext.resources`), built by the families.

The first job in an environment builds its resources, later jobs reuse them. Two families
offering the same name is an error; a builder that fails is logged and its resources are
missing (an action asking for one gets a MissingResourceError naming it and the env).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.app.config import Config
from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.families.base import Family, ResourceDeps

log = get_logger(__name__)


class ResourceClashError(FluxoraError, ValueError):
    def __init__(self, name: str, env: str) -> None:
        super().__init__(f"two families provide resource {name!r} for env {env!r}")


class ResourceProvider:
    def __init__(self, families: Sequence[Family[Config]], deps: ResourceDeps[Config]) -> None:
        self._families = list(families)
        self._deps = deps
        self._by_env: dict[str, dict[str, Any]] = {}

    def for_env(self, env: str) -> dict[str, Any]:
        if env not in self._by_env:
            self._by_env[env] = self._build(env)
        return self._by_env[env]

    def _build(self, env: str) -> dict[str, Any]:
        resources: dict[str, Any] = {}
        for family in self._families:
            try:
                built = family.build_resources(self._deps, env)
            except Exception:
                log.exception("building resources failed", family=family.name, env=env)
                continue
            for name, value in built.items():
                if name in resources:
                    raise ResourceClashError(name, env)
                resources[name] = value
        return resources
