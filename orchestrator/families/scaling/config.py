"""The `scaling:` config section: one policy per Auto Scaling group, keyed by the group's AWS
name (`fluxora-<env>-<key>`), written by the fluxora.orchestrator state from pillar
`fluxora:scaling:groups`."""

from __future__ import annotations

import re
from datetime import time

from pydantic import Field, field_validator, model_validator

from orchestrator.core.config import Section
from orchestrator.core.errors import FluxoraError

WINDOW = re.compile(r"^(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)$")


class ScalingError(FluxoraError, ValueError):
    """A scaling request that cannot be served as asked; the message says why."""


class UnknownGroupError(ScalingError, LookupError):
    def __init__(self, group: str, env: str, known: list[str]) -> None:
        names = ", ".join(known) or "none"
        super().__init__(f"unknown group {group!r} in env {env!r} (groups of {env}: {names})")


class WrongEnvironmentError(ScalingError):
    def __init__(self, group: str, env: str, owner: str) -> None:
        super().__init__(f"group {group!r} belongs to env {owner!r}, not {env!r}")


def parse_window(text: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` (UTC; may wrap midnight) -> (start, end)."""
    found = WINDOW.match(text)
    if found is None:
        raise ValueError(f"window {text!r}: expected HH:MM-HH:MM (UTC)")
    try:
        return time.fromisoformat(found["start"]), time.fromisoformat(found["end"])
    except ValueError as exc:
        raise ValueError(f"window {text!r}: {exc}") from None


class GroupPolicy(Section):
    """What the orchestrator allows on one group. `desired` is the baseline Salt sets (the
    step-wise scale-in stops there); `scale_in_protection` is the AWS instance flag Salt sets,
    kept here so that pillar can be passed as-is."""

    env: str
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    desired: int | None = Field(default=None, ge=0)
    step_out: int = Field(default=1, gt=0)
    step_in: int = Field(default=1, gt=0)
    cooldown_seconds: float = Field(default=300.0, ge=0)
    warmup_seconds: float = Field(default=300.0, ge=0)
    scale_in_protection: bool = False
    scale_in_protection_windows: list[str] = Field(default_factory=list)
    approval_step: int | None = Field(default=None, gt=0)
    """A scale-in by more than this many instances needs a person's approval (prod)."""
    region: str | None = Field(default=None, min_length=1)
    """The group's AWS region; None: the environment's primary region (`aws.region`). The DR
    region's pilot-light copies (`fluxora-<env>-<key>-dr`) name `aws.dr_region`."""

    @field_validator("scale_in_protection_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_window(text)
        return value

    @model_validator(mode="after")
    def _bounds(self) -> GroupPolicy:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.desired is not None and not self.min <= self.desired <= self.max:
            raise ValueError(f"desired {self.desired} is outside min..max")
        return self

    @property
    def baseline(self) -> int:
        return self.min if self.desired is None else self.desired


class ScalingConfig(Section):
    groups: dict[str, GroupPolicy] = Field(default_factory=dict)

    def policy(self, group: str, env: str) -> GroupPolicy:
        """The policy of `group` in `env`; an error naming the group's real env otherwise."""
        policy = self.groups.get(group)
        if policy is None:
            known = sorted(name for name, p in self.groups.items() if p.env == env)
            raise UnknownGroupError(group, env, known)
        if policy.env != env:
            raise WrongEnvironmentError(group, env, policy.env)
        return policy

    def in_region(self, env: str, region: str) -> list[str]:
        """The groups of `env` whose policy names `region`, sorted."""
        return sorted(
            name for name, p in self.groups.items() if p.env == env and p.region == region
        )
