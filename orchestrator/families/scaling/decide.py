"""The scaling decision, pure: a request and what was observed in -> a Verdict out.

Checks, in order: bounds (clamp to min/max, and to the baseline for a step-wise scale-in; the
clamp is recorded), no change, cooldown (any direction), then for a scale-in only: the DR lock,
the protection windows, warmup, the prod approval step. The first that applies suppresses.
A job undoing its own last action on a group (a rollback) skips the cooldown and the warmup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from orchestrator.families.scaling.config import GroupPolicy, parse_window


class Direction(StrEnum):
    OUT = "out"
    IN = "in"
    NONE = "none"


class Suppression(StrEnum):
    """Why a scaling request did not change the group (the `reason` metric label)."""

    COOLDOWN = "cooldown"
    """The group was scaled less than `cooldown_seconds` ago."""
    DR_LOCK = "dr-lock"
    """A DR drill or failover of the environment holds the `dr/<env>` lock: no scale-in."""
    PROTECTION_WINDOW = "protection-window"
    """Inside one of the group's `scale_in_protection_windows`: no scale-in."""
    WARMUP = "warmup"
    """Instances launched less than `warmup_seconds` ago: no scale-in yet."""
    APPROVAL = "approval-required"
    """A scale-in by more than `approval_step` instances waits for a person."""
    NO_INTENT = "no-scale-in-intent"
    """A follow-up scale-in step, but the group's last request was not a scale-in."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """`to` (absolute) or `by` (signed); `floor`: a step-wise scale-in stops there;
    `follow`: only continue a scale-in (the group's last request was one)."""

    to: int | None = None
    by: int | None = None
    floor: int | None = None
    follow: bool = False
    approved: bool = False


@dataclass(frozen=True, kw_only=True)
class Observed:
    now: datetime
    desired: int
    warming: int = 0
    last_action_at: datetime | None = None
    last_intent: Direction | None = None
    lock_holder: str | None = None
    """Another job holding the DR lock (the asking job's own lock never blocks it)."""
    own_last_action: bool = False
    """The group's last applied action was the asking job's: undoing it (a rollback) is not
    flapping, so the cooldown and the warmup of the instances it launched do not apply."""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    current: int
    requested: int
    target: int
    direction: Direction
    clamp: str | None = None
    suppressed: Suppression | None = None
    reason: str = ""

    @property
    def applies(self) -> bool:
        return self.suppressed is None and self.direction is not Direction.NONE


def decide(policy: GroupPolicy, request: Request, seen: Observed) -> Verdict:
    current = seen.desired
    requested = request.to if request.to is not None else current + (request.by or 0)
    target, clamp = _clamp(policy, request, current, requested)
    direction = _direction(current, target)
    base = Verdict(
        current=current, requested=requested, target=target, direction=direction, clamp=clamp
    )
    if direction is Direction.NONE:
        return _with(base, None, f"no change: desired capacity is already {current}")
    suppressed = _cooldown(policy, seen) or (
        _scale_in_checks(policy, request, seen, current - target)
        if direction is Direction.IN
        else None
    )
    if suppressed is not None:
        return _with(base, *suppressed)
    return _with(base, None, f"scale {direction} from {current} to {target}")


def _with(base: Verdict, suppressed: Suppression | None, reason: str) -> Verdict:
    clamp_note = f" ({base.clamp})" if base.clamp else ""
    return Verdict(
        current=base.current,
        requested=base.requested,
        target=base.target,
        direction=base.direction,
        clamp=base.clamp,
        suppressed=suppressed,
        reason=reason + clamp_note,
    )


def _clamp(
    policy: GroupPolicy, request: Request, current: int, requested: int
) -> tuple[int, str | None]:
    if requested > policy.max:
        return policy.max, f"requested {requested} clamped to max {policy.max}"
    if requested < policy.min:
        return policy.min, f"requested {requested} clamped to min {policy.min}"
    floor = request.floor
    if floor is not None and requested < floor <= current:
        return floor, f"requested {requested} clamped to baseline {floor}"
    if floor is not None and requested < current < floor:
        return current, f"requested {requested} kept at {current}, below baseline {floor}"
    return requested, None


def _direction(current: int, target: int) -> Direction:
    if target > current:
        return Direction.OUT
    if target < current:
        return Direction.IN
    return Direction.NONE


Suppressed = tuple[Suppression, str]


def _cooldown(policy: GroupPolicy, seen: Observed) -> Suppressed | None:
    if seen.last_action_at is None or seen.own_last_action:
        return None
    elapsed = (seen.now - seen.last_action_at).total_seconds()
    if elapsed >= policy.cooldown_seconds:
        return None
    return (
        Suppression.COOLDOWN,
        f"scaled {elapsed:.1f}s ago, inside its {policy.cooldown_seconds:g}s cooldown",
    )


def _scale_in_checks(
    policy: GroupPolicy, request: Request, seen: Observed, step: int
) -> Suppressed | None:
    if request.follow and seen.last_intent is not Direction.IN:
        last = seen.last_intent.value if seen.last_intent else "none"
        return Suppression.NO_INTENT, f"last request was not a scale-in (was: {last})"
    if seen.lock_holder is not None:
        return Suppression.DR_LOCK, f"no scale-in while {seen.lock_holder} holds the DR lock"
    window = _open_window(policy, seen.now.time())
    if window is not None:
        return Suppression.PROTECTION_WINDOW, f"no scale-in inside protection window {window} UTC"
    if seen.warming and not seen.own_last_action:
        return (
            Suppression.WARMUP,
            f"{seen.warming} instance(s) inside the {policy.warmup_seconds:g}s warmup",
        )
    if policy.approval_step is not None and step > policy.approval_step and not request.approved:
        return (
            Suppression.APPROVAL,
            f"scale-in by {step} exceeds the approval step {policy.approval_step}",
        )
    return None


def _open_window(policy: GroupPolicy, now: time) -> str | None:
    for text in policy.scale_in_protection_windows:
        start, end = parse_window(text)
        inside = start <= now < end if start <= end else now >= start or now < end
        if inside:
            return text
    return None
