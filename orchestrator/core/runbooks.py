"""The runbook format (YAML in `dr_runbooks/`), validated at load.

```yaml
name: restore-drill
description: Restore the newest backup into a scratch database and verify it.
owner: team-data
environments: [dev, staging, prod]
targets: {rto: 15m, rpo: 24h}              # every run is measured against them
drill: true                                # its runs export the drill metrics (needs targets)
steady_state:                              # checks before and after the steps
  before: [{name: primary-up, action: check.sql, params: {...}}]
  after: [...]
steps:
  - name: restore
    action: postgres.restore
    params: {database: "{{ params.database }}", target: scratch}
    timeout: 10m                           # default 5m
    retries: {attempts: 3, wait: 5s, backoff: 2}   # or `retries: 2` (two retries)
    on_failure: rollback                   # rollback (default) | continue | abort
rollback:                                  # run in order when a step fails
  - {name: drop-scratch, action: postgres.drop, params: {target: scratch}}
stop_conditions:                           # checked during the run; a failure aborts it
  - {name: primary-healthy, action: check.sql, params: {...}, interval: 5s}
invariants:                                # hold whatever the run's outcome: checked with the
  - {name: one-writer, action: check.sql, params: {...}}   # stop conditions after the
                                           # rollbacks of an interrupted run; a failure fails it
approval: {staging: false, prod: true}     # prod requires approval unless set to false
lock: "dr/{{ env }}"                        # one job of this key at a time, whoever asks
parameters:                                # what a job may pass; anything else is refused
  database: {type: string, required: true, description: The database to restore.}
  halt_file: {type: string, default: /run/fluxora/halt-drills, description: The stop file.}
```
A job's parameters are checked against `parameters:` when the job is created (type, required;
an unknown one is refused) and a left-out one takes its default, so templates read
`params.database` as is. Step parameters are templates over `params`, `env`, `job` and
`steps.<name>.output` (earlier steps' output); `lock` over `params` and `env`. A runbook's lock
is its jobs' lock whatever rule or command created them (a rule's `lock` applies only to
runbooks that declare none).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator.core.durations import Duration
from orchestrator.core.errors import FluxoraError
from orchestrator.core.names import NAME
from orchestrator.core.retry import RetrySettings
from orchestrator.core.templates import Renderer, compile_value

DEFAULT_STEP_TIMEOUT = 300.0
_PARAMETER = re.compile(r"^[a-z_][a-z0-9_]*$")
DEFAULT_CHECK_INTERVAL = 10.0


class OnFailure(StrEnum):
    """What a failed step does to the run."""

    ROLLBACK = "rollback"
    """Stop, run the rollback steps in order; the run is `failed`."""
    CONTINUE = "continue"
    """Record the failure, mark the run `deviated`, go on with the next step."""
    ABORT = "abort"
    """Stop without running rollbacks; the run is `aborted` (for steps whose failure leaves
    nothing to undo, or where an operator must look before anything else runs)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Model):
    attempts: int = Field(default=1, ge=1, le=100)
    wait: Duration = 0.0
    backoff: float = Field(default=1.0, ge=1)

    def settings(self) -> RetrySettings:
        return RetrySettings(attempts=self.attempts, wait_seconds=self.wait, backoff=self.backoff)


class ActionCall(_Model):
    name: str = Field(pattern=NAME.pattern)
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: Duration = DEFAULT_STEP_TIMEOUT
    _params: Renderer | None = PrivateAttr(default=None)

    def params_renderer(self) -> Renderer:
        """The params compiled, once per loaded runbook (TemplateCompileError on the first
        call: the catalog makes it at load, so a bad template is a load error)."""
        if self._params is None:
            self._params = compile_value(self.params)
        return self._params


class StepSpec(ActionCall):
    retries: RetrySpec = RetrySpec()
    on_failure: OnFailure = OnFailure.ROLLBACK

    @field_validator("retries", mode="before")
    @classmethod
    def _count_shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"attempts": value + 1}
        return value


class CheckSpec(ActionCall):
    """A steady-state check: an action whose Result must be ok."""


class StopConditionSpec(ActionCall):
    interval: Duration = DEFAULT_CHECK_INTERVAL


class SteadyStateSpec(_Model):
    before: list[CheckSpec] = Field(default_factory=list)
    after: list[CheckSpec] = Field(default_factory=list)


class TargetsSpec(_Model):
    rto: Duration | None = None
    rpo: Duration | None = None


class ParameterType(StrEnum):
    """The type of a runbook parameter (a YAML scalar, mapping or list)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    MAPPING = "mapping"
    LIST = "list"

    @property
    def article(self) -> str:
        """ "an integer", "a string": for messages."""
        return f"{'an' if self.value[0] in 'aeiou' else 'a'} {self.value}"

    def fits(self, value: Any) -> bool:
        if isinstance(value, bool):  # a bool is an int to Python, never to a runbook
            return self is ParameterType.BOOLEAN
        return isinstance(value, _PYTHON_TYPES[self])


_PYTHON_TYPES: dict[ParameterType, tuple[type, ...]] = {
    ParameterType.STRING: (str,),
    ParameterType.INTEGER: (int,),
    ParameterType.NUMBER: (int, float),
    ParameterType.BOOLEAN: (bool,),
    ParameterType.MAPPING: (dict,),
    ParameterType.LIST: (list,),
}


class ParameterError(FluxoraError, ValueError):
    """A job's parameters do not fit its runbook's `parameters:`; the message names which."""

    def __init__(self, runbook: str, name: str, reason: str) -> None:
        super().__init__(f"runbook {runbook!r}: parameter {name!r}: {reason}")


ConfiguredNames = Mapping[str, Collection[str]]
"""Per kind of configured thing (`databases`, `scaling_groups`), the names configured for one
environment: what a parameter with `configured:` may name."""


class ParameterSpec(_Model):
    type: ParameterType
    description: str
    required: bool = False
    default: Any = None
    # The value must be one of these (a kind, a mode): it may end up in a metric label.
    choices: list[str] | None = Field(default=None, min_length=1)
    # The value must name a thing configured for the job's environment (`databases`): an
    # alert naming an unknown one is a refused job, not a failing job and a new metric series.
    configured: str | None = Field(default=None, pattern=r"^[a-z_]+$")

    @model_validator(mode="after")
    def _default_fits(self) -> ParameterSpec:
        if self.required and self.default is not None:
            raise ValueError("a required parameter has no default")
        if self.default is not None and not self.type.fits(self.default):
            raise ValueError(f"default {self.default!r} is not {self.type.article}")
        if (self.choices or self.configured) and self.type is not ParameterType.STRING:
            raise ValueError("choices and configured are for string parameters")
        if self.choices and self.default is not None and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self

    def check(self, value: Any, configured: ConfiguredNames) -> str | None:
        """Why `value` (of the right type) is refused; None when it is not. A `configured`
        kind missing from `configured` is not checked (the process does not know it)."""
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        names = configured.get(self.configured) if self.configured else None
        if names is not None and value not in names:
            known = ", ".join(sorted(names)) or "none"
            return f"{value!r} is not one of the configured {self.configured} (configured: {known})"
        return None


class RunbookSpec(_Model):
    name: str = Field(pattern=NAME.pattern)
    description: str
    owner: str
    environments: list[str] = Field(min_length=1)
    targets: TargetsSpec = TargetsSpec()
    drill: bool = False
    steady_state: SteadyStateSpec = SteadyStateSpec()
    steps: list[StepSpec] = Field(min_length=1)
    rollback: list[StepSpec] = Field(default_factory=list)
    stop_conditions: list[StopConditionSpec] = Field(default_factory=list)
    invariants: list[CheckSpec] = Field(default_factory=list)
    approval: dict[str, bool] = Field(default_factory=dict)
    lock: str | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        bad = sorted(name for name in value if not _PARAMETER.match(name))
        if bad:
            raise ValueError(f"parameter names are lower-case identifiers: {', '.join(bad)}")
        return value

    @field_validator("drill")
    @classmethod
    def _drills_have_targets(cls, value: bool, info: ValidationInfo) -> bool:
        targets = info.data.get("targets")
        if value and isinstance(targets, TargetsSpec) and targets.rto is None is targets.rpo:
            raise ValueError("a drill is measured against its targets: give targets.rto or .rpo")
        return value

    @model_validator(mode="after")
    def _unique_step_names(self) -> RunbookSpec:
        names = [s.name for s in (*self.steps, *self.rollback)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique: {', '.join(duplicates)}")
        return self

    def requires_approval(self, env: str) -> bool:
        """Per-environment policy; prod requires approval unless the runbook says otherwise."""
        return self.approval.get(env, env == "prod")

    def bind(
        self, params: Mapping[str, Any], configured: ConfiguredNames | None = None
    ) -> dict[str, Any]:
        """A job's parameters, checked against `parameters:` (ParameterError naming the first
        unknown, missing, mistyped or not allowed one: `choices`, and `configured` against
        the names configured for the job's env), every declared one present (a value left out
        or null takes its default)."""
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            known = ", ".join(sorted(self.parameters)) or "none"
            raise ParameterError(self.name, unknown[0], f"unknown (known: {known})")
        bound: dict[str, Any] = {}
        for name, spec in self.parameters.items():
            value = params.get(name)
            if value is None and spec.required:
                raise ParameterError(self.name, name, "required")
            if value is not None and not spec.type.fits(value):
                got = f"{type(value).__name__} {value!r}"
                raise ParameterError(self.name, name, f"must be {spec.type.article}, got {got}")
            refused = None if value is None else spec.check(value, configured or {})
            if refused is not None:
                raise ParameterError(self.name, name, refused)
            bound[name] = spec.default if value is None else value
        return bound

    def calls(self) -> list[tuple[str, ActionCall]]:
        """Every action call with its key path (for validation)."""
        groups: list[tuple[str, list[Any]]] = [
            ("steps", self.steps),
            ("rollback", self.rollback),
            ("steady_state.before", self.steady_state.before),
            ("steady_state.after", self.steady_state.after),
            ("stop_conditions", self.stop_conditions),
            ("invariants", self.invariants),
        ]
        return [(f"{key}.{i}", call) for key, calls in groups for i, call in enumerate(calls)]
