"""Per-environment resources for actions (`ActionContext.resources`), built from config.

An action family module may define `build_resources(config, env) -> dict[str, Any]` (object
store, database endpoints, AWS clients...). The composition root collects the builders of
every family in `orchestrator.actions.FAMILIES`; the first job in an environment builds its
resources, later jobs reuse them. Two families offering the same name is an error; a builder
that fails is logged and its resources are missing (an action asking for one gets a
MissingResourceError naming it and the env).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.config import Config
from orchestrator.errors import FluxoraError
from orchestrator.logs import get_logger

log = get_logger(__name__)

ResourceBuilder = Callable[[Config, str], dict[str, Any]]


class ResourceClashError(FluxoraError, ValueError):
    def __init__(self, name: str, env: str) -> None:
        super().__init__(f"two action families provide resource {name!r} for env {env!r}")


class ResourceProvider:
    def __init__(self, config: Config, builders: Sequence[tuple[str, ResourceBuilder]]) -> None:
        self._config = config
        self._builders = list(builders)
        self._by_env: dict[str, dict[str, Any]] = {}

    def for_env(self, env: str) -> dict[str, Any]:
        if env not in self._by_env:
            self._by_env[env] = self._build(env)
        return self._by_env[env]

    def _build(self, env: str) -> dict[str, Any]:
        resources: dict[str, Any] = {}
        for family, build in self._builders:
            try:
                built = build(self._config, env)
            except Exception:
                log.exception("building resources failed", family=family, env=env)
                continue
            for name, value in built.items():
                if name in resources:
                    raise ResourceClashError(name, env)
                resources[name] = value
        return resources
