"""Per-environment resources for actions (`ActionContext.resources`): the object stores the
process opened once, and what the families build.

The first job in an environment builds its resources, later jobs reuse them. Two builders
offering the same key is an error; a builder that fails is logged and its resources are
missing (an action asking for one gets a MissingResourceError naming it and the env).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.app.config import Config
from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.core.resources import Resources
from orchestrator.families.base import Family, ResourceDeps
from orchestrator.objectstore.config import DR_OBJECTSTORE, OBJECTSTORE

log = get_logger(__name__)

Builder = Callable[[ResourceDeps[Config], str], Resources]


class ResourceClashError(FluxoraError, ValueError):
    def __init__(self, name: str, env: str) -> None:
        super().__init__(f"two families provide resource {name!r} for env {env!r}")


def object_stores(deps: ResourceDeps[Config], env: str) -> Resources:
    """The process's object stores, shared by every family's actions."""
    resources = Resources().add(OBJECTSTORE, deps.objectstores.primary())
    dr_store = deps.objectstores.dr()
    return resources if dr_store is None else resources.add(DR_OBJECTSTORE, dr_store)


class ResourceProvider:
    def __init__(self, families: Sequence[Family[Config]], deps: ResourceDeps[Config]) -> None:
        self._families = list(families)
        self._deps = deps
        self._by_env: dict[str, Resources] = {}

    def for_env(self, env: str) -> Resources:
        if env not in self._by_env:
            self._by_env[env] = self._build(env)
        return self._by_env[env]

    def _build(self, env: str) -> Resources:
        resources = self._built("objectstore", object_stores, env)
        for family in self._families:
            built = self._built(family.name, family.build_resources, env)
            for key in built:
                if key in resources:
                    raise ResourceClashError(key.name, env)
            resources = resources.merged(built)
        return resources

    def _built(self, source: str, build: Builder, env: str) -> Resources:
        try:
            return build(self._deps, env)
        except Exception:
            log.exception("building resources failed", family=source, env=env)
            return Resources()
