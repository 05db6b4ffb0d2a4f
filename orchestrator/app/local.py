"""The CLI's local wiring: what a command that works in this process (a backup while the daemon
is down, a scaling plan) uses, built from the config exactly as the job worker builds it: the
same families, their resources on the same store and object stores."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from orchestrator.app.config import Config
from orchestrator.app.families import FAMILIES, builtin_registry
from orchestrator.app.resources import ResourceProvider
from orchestrator.app.wiring import object_stores, open_configured_store, resource_deps
from orchestrator.core.actions import ActionContext, ActionRegistry


class Local:
    """The actions and their resources, per environment, on the store the config names."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry: ActionRegistry = builtin_registry()
        self.store = open_configured_store(config)
        self.store.migrate()
        deps = resource_deps(config, self.store, object_stores(config))
        self._resources = ResourceProvider(FAMILIES, deps)

    def resources(self, env: str) -> dict[str, Any]:
        return self._resources.for_env(env)

    def context(
        self, env: str, *, dry_run: bool = False, job_id: str | None = None
    ) -> ActionContext:
        return ActionContext(env=env, dry_run=dry_run, job_id=job_id, resources=self.resources(env))

    def close(self) -> None:
        self.store.close()


@contextlib.contextmanager
def local(config: Config) -> Iterator[Local]:
    wiring = Local(config)
    try:
        yield wiring
    finally:
        wiring.close()
