"""Loading runbooks from a directory, with errors that name the file and the key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.config import problem
from orchestrator.core.errors import FluxoraError
from orchestrator.core.runbooks import ActionCall, ConfiguredNames, RunbookSpec
from orchestrator.core.templates import TemplateCompileError, compile_value, is_templated

PACKAGE_RUNBOOKS = Path(__file__).resolve().parents[2] / "dr_runbooks"


class RunbookError(FluxoraError, ValueError):
    """An invalid runbook: the message names the file and the key."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key}: {reason}")


def default_runbooks_dir() -> Path:
    """The runbooks shipped in the package (`orchestrator/dr_runbooks`, a link to the
    checkout's `dr_runbooks/` that the wheel carries as package data)."""
    return PACKAGE_RUNBOOKS


class RunbookCatalog:
    """Runbooks by name; it is the rules' `RunbookPolicy`."""

    def __init__(self, runbooks: Sequence[RunbookSpec], directory: Path | None = None) -> None:
        self.directory = directory
        self._runbooks = {r.name: r for r in runbooks}
        self._locks = {r.name: compile_value(r.lock) for r in runbooks if r.lock is not None}

    def __contains__(self, name: object) -> bool:
        return name in self._runbooks

    def __iter__(self) -> Iterator[RunbookSpec]:
        return iter(sorted(self._runbooks.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._runbooks)

    def get(self, name: str) -> RunbookSpec:
        try:
            return self._runbooks[name]
        except KeyError:
            raise RunbookError(str(self.directory), name, "no such runbook") from None

    def allows(self, runbook: str, env: str) -> bool:
        return env in self._runbooks[runbook].environments

    def environments(self, runbook: str) -> Sequence[str]:
        return self._runbooks[runbook].environments

    def requires_approval(self, runbook: str, env: str) -> bool:
        return self._runbooks[runbook].requires_approval(env)

    def bind(
        self, runbook: str, params: Mapping[str, Any], configured: ConfiguredNames | None = None
    ) -> dict[str, Any]:
        """The job's parameters checked against the runbook's, defaults applied
        (ParameterError naming the first that does not fit)."""
        return self._runbooks[runbook].bind(params, configured)

    def lock_key(self, runbook: str, params: Mapping[str, Any], env: str) -> str | None:
        """The runbook's own lock for a job with `params` in `env`; None when it declares none
        (TemplateRenderError when it does not render)."""
        render = self._locks.get(runbook)
        return None if render is None else str(render({"params": dict(params), "env": env}))

    def declares_lock(self, runbook: str) -> bool:
        return runbook in self._locks


def load_catalog(directory: Path, actions: ActionRegistry) -> RunbookCatalog:
    """Every `*.yaml`/`*.yml` in `directory` (an absent directory holds no runbooks)."""
    runbooks: list[RunbookSpec] = []
    seen: dict[str, Path] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files if directory.is_dir() else []:
        runbook = load_runbook(path, actions)
        if runbook.name in seen:
            raise RunbookError(
                str(path), "name", f"{runbook.name!r} is also in {seen[runbook.name]}"
            )
        seen[runbook.name] = path
        runbooks.append(runbook)
    return RunbookCatalog(runbooks, directory)


def load_runbook(path: Path, actions: ActionRegistry) -> RunbookSpec:
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunbookError(source, "(file)", exc.strerror or str(exc)) from exc
    except yaml.YAMLError as exc:
        raise RunbookError(source, "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RunbookError(source, "(file)", "top level must be a mapping")
    return parse_raw(raw, source, actions)


def check_call(source: str, key: str, call: ActionCall, actions: ActionRegistry) -> None:
    """The action exists, templates compile, and untemplated params fit the action's model
    (templated ones are checked again once rendered, at run time)."""
    if call.action not in actions:
        known = ", ".join(actions.names())
        raise RunbookError(
            source, f"{key}.action", f"unknown action {call.action!r} (known: {known})"
        )
    try:
        call.params_renderer()
    except TemplateCompileError as exc:
        raise RunbookError(source, f"{key}.params", str(exc)) from None
    model = actions.get(call.action).params
    fields = model.model_fields
    accepted = set(fields) | {f.alias for f in fields.values() if f.alias}
    unknown = sorted(set(call.params) - accepted)
    if unknown:
        raise RunbookError(
            source, f"{key}.params.{unknown[0]}", f"unknown parameter of {call.action}"
        )
    if not is_templated(call.params):
        try:
            model.model_validate(call.params)
        except ValidationError as exc:
            raise _pydantic_error(source, f"{key}.params", exc) from exc


def _pydantic_error(source: str, prefix: str, exc: ValidationError) -> RunbookError:
    key, reason = problem(exc, prefix)
    return RunbookError(source, key or "(file)", reason)


def parse_raw(raw: Any, source: str, actions: ActionRegistry) -> RunbookSpec:
    """Validate a runbook given as data (tests, generated runbooks)."""
    try:
        runbook = RunbookSpec.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(source, "", exc) from exc
    for key, call in runbook.calls():
        check_call(source, key, call, actions)
    if runbook.lock is not None:
        try:
            compile_value(runbook.lock)
        except TemplateCompileError as exc:
            raise RunbookError(source, "lock", str(exc)) from None
    return runbook
