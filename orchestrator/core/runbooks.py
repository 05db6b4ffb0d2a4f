"""The runbook format (YAML in `dr_runbooks/`), validated at load.

```yaml
name: restore-drill
description: Restore the newest backup into a scratch database and verify it.
owner: team-data
environments: [dev, staging, prod]
targets: {rto: 15m, rpo: 24h}              # measured by the DR executor hooks
drill: true                                # its runs export the drill metrics (default false)
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
approval: {staging: false, prod: true}     # prod requires approval unless set to false
```
Step parameters are templates over `params` (the job's parameters), `env`, `job` and
`steps.<name>.output` (earlier steps' output).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.core.durations import Duration
from orchestrator.core.names import NAME
from orchestrator.core.retry import RetrySettings

DEFAULT_STEP_TIMEOUT = 300.0
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
    approval: dict[str, bool] = Field(default_factory=dict)

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

    def calls(self) -> list[tuple[str, ActionCall]]:
        """Every action call with its key path (for validation)."""
        groups: list[tuple[str, list[Any]]] = [
            ("steps", self.steps),
            ("rollback", self.rollback),
            ("steady_state.before", self.steady_state.before),
            ("steady_state.after", self.steady_state.after),
            ("stop_conditions", self.stop_conditions),
        ]
        return [(f"{key}.{i}", call) for key, calls in groups for i, call in enumerate(calls)]
