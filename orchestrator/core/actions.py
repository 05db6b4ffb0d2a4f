"""Actions: registered callables that runbook steps name (`postgres.backup`, `aws.asg.scale_by`).

An action is a plain synchronous function `(ctx, params) -> Result`; the executor runs it in a
worker thread. `params` is an instance of the action's pydantic model, validated before the run
(and offline by `fluxora-orch validate`). An action returns a failed Result for an expected
failure with a message a person can act on; an exception is a bug, and the executor turns it into
a failed Result with the traceback logged. Long actions call `ctx.progress(...)` and check
`ctx.cancelled` between units of work. Under `ctx.dry_run` an action changes nothing and returns
what it would do in `data["plan"]`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from orchestrator.core.children import Children
from orchestrator.core.errors import FluxoraError
from orchestrator.core.leftovers import LeftoverLedger
from orchestrator.core.logs import Logger, get_logger
from orchestrator.core.resources import ResourceKey, Resources
from orchestrator.core.results import Result


class ActionParams(BaseModel):
    """Base of every action's parameter model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(ActionParams):
    pass


P = TypeVar("P", bound=ActionParams)
T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None = None
    unit: str = "bytes"
    message: str = ""


def _ignore_progress(_: Progress) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class ActionContext:
    """What an action may use. `resources` holds the per-environment services the composition
    root built from config (object store, database endpoints, AWS clients), by typed key."""

    env: str
    dry_run: bool = False
    job_id: str | None = None
    log: Logger = field(default_factory=lambda: get_logger("orchestrator.action"))
    progress: Callable[[Progress], None] = _ignore_progress
    cancelled: threading.Event = field(default_factory=threading.Event)
    resources: Resources = field(default_factory=Resources)
    leftovers: LeftoverLedger = field(default_factory=LeftoverLedger)
    """Where the action puts what it creates outside itself (scratch databases, files) while
    it exists, so that the next job worker sweeps it if this one dies."""

    def children(self) -> Children:
        """How the action starts child processes: each in its own process group, stopped
        when `cancelled` is set (abort, timeout, shutdown), swept after a crash."""
        return Children(cancelled=self.cancelled, ledger=self.leftovers, job_id=self.job_id)

    def resource(self, key: ResourceKey[T]) -> T:
        value = self.resources.get(key)
        if value is None:
            raise MissingResourceError(key.name, self.env)
        return value


@dataclass(frozen=True)
class Action(Generic[P]):
    name: str
    func: Callable[[ActionContext, P], Result]
    params: type[P]
    description: str

    def parse(self, raw: dict[str, Any]) -> P:
        return self.params.model_validate(raw)

    def __call__(self, ctx: ActionContext, params: P) -> Result:
        return self.func(ctx, params)


class ActionError(FluxoraError):
    pass


class UnknownActionError(ActionError, KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        super().__init__(f"unknown action {name!r} (known: {', '.join(sorted(known))})")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateActionError(ActionError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"action {name!r} is already registered")


class MissingResourceError(ActionError, LookupError):
    def __init__(self, name: str, env: str) -> None:
        super().__init__(f"resource {name!r} is not configured for environment {env!r}")


class ActionRegistry:
    """Actions by name; state per instance, a clear error on a clash or an unknown name."""

    def __init__(self) -> None:
        self._actions: dict[str, Action[Any]] = {}

    def add(self, action: Action[Any]) -> None:
        if action.name in self._actions:
            raise DuplicateActionError(action.name)
        self._actions[action.name] = action

    def register(
        self, name: str, params: type[P], description: str
    ) -> Callable[[Callable[[ActionContext, P], Result]], Callable[[ActionContext, P], Result]]:
        """Decorator form of `add`."""

        def decorate(
            func: Callable[[ActionContext, P], Result],
        ) -> Callable[[ActionContext, P], Result]:
            self.add(Action(name, func, params, description))
            return func

        return decorate

    def get(self, name: str) -> Action[Any]:
        try:
            return self._actions[name]
        except KeyError:
            raise UnknownActionError(name, self._actions) from None

    def names(self) -> list[str]:
        return sorted(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions
