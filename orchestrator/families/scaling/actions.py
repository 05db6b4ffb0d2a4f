"""`aws.asg.set_capacity`, `aws.asg.scale_by`, `aws.asg.describe`: Auto Scaling groups under
the scaling policies (this family). A suppressed request is an ok Result with
`result: suppressed` and the reason (the run completes; the decision is recorded); a request
the policy cannot serve (unknown group, a group of another env) or an AWS error is a failed
Result.

`aws.asg.set_dr_capacity` sets every DR-region group of the environment (region evacuation):
there a group left short of its target (suppressed or failed) fails the step, because clients
are about to be sent to that region."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field

from orchestrator.core.actions import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    MissingResourceError,
)
from orchestrator.core.results import Result
from orchestrator.families.aws.asg import AWS_ERRORS, GroupNotFoundError, Groups
from orchestrator.families.aws.clients import AWS, NoDrRegionError
from orchestrator.families.scaling import history
from orchestrator.families.scaling.config import ScalingError
from orchestrator.families.scaling.decide import Request
from orchestrator.families.scaling.service import SCALING, Call, Scaler

EXPECTED_FAILURES = (ScalingError, GroupNotFoundError, MissingResourceError, *AWS_ERRORS)


class Step(StrEnum):
    OUT = "out"
    IN = "in"


class GroupParams(ActionParams):
    group: str = Field(min_length=1)


class SetCapacityParams(GroupParams):
    capacity: int | None = Field(default=None, ge=0)
    """None: the group's baseline (`desired` in its policy)."""


class DrCapacityParams(ActionParams):
    capacity: int | None = Field(default=None, ge=0)
    """None: each group's baseline (`desired` in its policy: its evacuation capacity)."""
    groups: list[str] | None = None
    """None: every group of the environment whose policy names `aws.dr_region`."""


class ScaleByParams(GroupParams):
    step: Step
    by: int | None = Field(default=None, gt=0)
    """Instances to add (step out) or remove (step in); None: the policy's step size."""
    follow: bool = False
    """Only continue a scale-in that was asked for (the settle schedule's steps)."""


def set_capacity(ctx: ActionContext, params: SetCapacityParams) -> Result:
    def request(scaler: Scaler) -> Request:
        policy = scaler.policy(params.group, ctx.env)
        capacity = policy.baseline if params.capacity is None else params.capacity
        return Request(to=capacity)

    return _scale(ctx, params.group, request)


def scale_by(ctx: ActionContext, params: ScaleByParams) -> Result:
    def request(scaler: Scaler) -> Request:
        policy = scaler.policy(params.group, ctx.env)
        if params.step is Step.OUT:
            return Request(by=params.by or policy.step_out)
        floor = policy.baseline if params.by is None else None
        return Request(by=-(params.by or policy.step_in), floor=floor, follow=params.follow)

    return _scale(ctx, params.group, request)


def set_dr_capacity(ctx: ActionContext, params: DrCapacityParams) -> Result:
    try:
        groups = params.groups or _dr_groups(ctx)
    except (*EXPECTED_FAILURES, NoDrRegionError) as exc:
        return Result.failure(f"finding the DR groups of {ctx.env} failed: {exc}", env=ctx.env)
    results = {
        group: set_capacity(ctx, SetCapacityParams(group=group, capacity=params.capacity))
        for group in groups
    }
    short = [
        f"{group}: {r.error or r.data['reason']}"
        for group, r in results.items()
        if not r.ok or r.data["result"] == history.ScalingResult.SUPPRESSED
    ]
    data: dict[str, Any] = {
        "env": ctx.env,
        "groups": {group: r.data for group, r in results.items()},
    }
    if short:
        return Result.failure("DR groups short of their capacity: " + "; ".join(short), **data)
    return Result.success(changed=any(r.changed for r in results.values()), **data)


def _dr_groups(ctx: ActionContext) -> list[str]:
    region = ctx.resource(AWS).dr_region()
    groups = _scaler(ctx).config.in_region(ctx.env, region)
    if not groups:
        raise ScalingError(f"no scaling.groups of {ctx.env} in the DR region {region}")
    return groups


def describe(ctx: ActionContext, params: GroupParams) -> Result:
    try:
        return Result.success(**_scaler(ctx).read(_groups(ctx), params.group, ctx.env))
    except EXPECTED_FAILURES as exc:
        return _failed(ctx, params.group, f"reading group {params.group} failed: {exc}")


def _scale(ctx: ActionContext, group: str, request: Callable[[Scaler], Request]) -> Result:
    call = Call(env=ctx.env, job_id=ctx.job_id, dry_run=ctx.dry_run)
    try:
        scaler = _scaler(ctx)
        data = scaler.scale(call, _groups(ctx), group, request(scaler))
    except EXPECTED_FAILURES as exc:
        return _failed(ctx, group, f"scaling {group} in {ctx.env} failed: {exc}")
    if data["result"] == history.ScalingResult.FAILED:
        return _failed(ctx, group, data["reason"], **data)
    ctx.log.info("scaling decided", job_id=ctx.job_id, **_log_fields(data))
    return Result.success(changed=data["result"] == history.ScalingResult.APPLIED, **data)


def _scaler(ctx: ActionContext) -> Scaler:
    return ctx.resource(SCALING)


def _groups(ctx: ActionContext) -> Groups:
    return Groups(ctx.resource(AWS))


def _failed(ctx: ActionContext, group: str, error: str, **data: Any) -> Result:
    ctx.log.error("action failed", job_id=ctx.job_id, group=group, error=error)
    return Result.failure(error, **{"group": group, "env": ctx.env, **data})


def _log_fields(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("group", "env", "direction", "current", "target", "result", "suppressed", "reason")
    return {key: data.get(key) for key in keys}


def register(registry: ActionRegistry) -> None:
    registry.register(
        "aws.asg.set_capacity",
        SetCapacityParams,
        "Set an Auto Scaling group's desired capacity (default: its baseline), within its policy.",
    )(set_capacity)
    registry.register(
        "aws.asg.scale_by",
        ScaleByParams,
        "Step an Auto Scaling group out or in (default: the policy's step), within its policy.",
    )(scale_by)
    registry.register(
        "aws.asg.set_dr_capacity",
        DrCapacityParams,
        "Set every DR-region Auto Scaling group of the env (default: each one's baseline).",
    )(set_dr_capacity)
    registry.register(
        "aws.asg.describe", GroupParams, "Read an Auto Scaling group's desired capacity."
    )(describe)
