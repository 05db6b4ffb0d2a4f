"""The deploy runbook's actions (`releases.*`), each on the `releases` resource:
gate (order, maintenance window) → plan (test=True, stored by digest; where an approval is
required, the approved digest must still be the plan's) → pin → apply → verify; and rollback
(the previous release pinned, applied and verified again). Every refusal and failure is a
failed Result saying what to do."""

from __future__ import annotations

from pydantic import Field

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry, NoParams
from orchestrator.core.results import Result
from orchestrator.families.releases.build import ReleaseError
from orchestrator.families.releases.history import Outcome
from orchestrator.families.releases.saltcli import SaltCommandError
from orchestrator.families.releases.service import RELEASES

ERRORS = (ReleaseError, SaltCommandError, OSError)


class ReleaseParams(ActionParams):
    release: str = Field(min_length=1)


class PlanParams(ReleaseParams):
    approved: str = ""
    """The plan digest a person approved ("" where no approval is asked)."""


class RollbackParams(ReleaseParams):
    to: str = ""
    """The release the environment was pinned to before ("" on a first deploy)."""


def gate(ctx: ActionContext, params: ReleaseParams) -> Result:
    deployer = ctx.resource(RELEASES)
    try:
        release = deployer.release(params.release)
    except ERRORS as exc:
        return Result.failure(str(exc))
    refusal = deployer.order_refusal(ctx.env, release) or deployer.window_refusal(ctx.env)
    if refusal:
        return Result.failure(f"deploy of {release.version} to {ctx.env} refused: {refusal}")
    return Result.success(release=release.version, digest=release.digest)


def make_plan(ctx: ActionContext, params: PlanParams) -> Result:
    deployer = ctx.resource(RELEASES)
    try:
        made = deployer.plan(ctx.env, deployer.release(params.release))
    except ERRORS as exc:
        return Result.failure(f"plan of {params.release} in {ctx.env}: {exc}")
    output = made.to_json()
    if ctx.env in deployer.config.approve_plan_in and made.digest != params.approved:
        asked = params.approved or "none"
        return Result.failure(
            f"plan {made.digest} of {params.release} in {ctx.env} is not the approved plan "
            f"({asked}): run `fluxora-orch deploy apply {ctx.env} --release {params.release}` "
            "again and approve its plan",
            **output,
        )
    if made.counts()["error"]:
        return Result.failure(f"plan of {params.release} in {ctx.env} has errors", **output)
    return Result.success(**output)


def drift(ctx: ActionContext, params: NoParams) -> Result:
    """The plan of the release the environment is pinned to: what differs from it now."""
    deployer = ctx.resource(RELEASES)
    try:
        current = deployer.pinned(ctx.env)
        made = deployer.plan(ctx.env, current)
    except ERRORS as exc:
        return Result.failure(f"drift check of {ctx.env}: {exc}")
    for item in made.items:
        ctx.log.warning("drift", env=ctx.env, host=item.host, resource=item.resource,
                        action=item.action.value)  # fmt: skip
    return Result.success(**made.to_json())


def pin(ctx: ActionContext, params: ReleaseParams) -> Result:
    deployer = ctx.resource(RELEASES)
    try:
        before = deployer.pin(ctx.env, deployer.release(params.release))
    except ERRORS as exc:
        return Result.failure(f"pin of {ctx.env} to {params.release}: {exc}")
    return Result.success(changed=True, previous=before.version if before else "")


def apply(ctx: ActionContext, params: ReleaseParams) -> Result:
    try:
        failed = ctx.resource(RELEASES).apply(ctx.env)
    except ERRORS as exc:
        return Result.failure(f"apply of {params.release} in {ctx.env}: {exc}")
    if failed:
        return Result.failure(f"apply of {params.release} in {ctx.env}: {failed[0]}", failed=failed)
    return Result.success(changed=True, release=params.release)


def verify(ctx: ActionContext, params: ReleaseParams) -> Result:
    deployer = ctx.resource(RELEASES)
    try:
        release = deployer.release(params.release)
        failed = deployer.verify(ctx.env)
    except ERRORS as exc:
        return Result.failure(f"verification of {params.release} in {ctx.env}: {exc}")
    if failed:
        return Result.failure(
            f"verification of {params.release} in {ctx.env} failed: {failed[0]}", failed=failed
        )
    deployer.record(ctx.env, release, Outcome.VERIFIED, "")
    return Result.success(env=ctx.env, release=release.version, verified=True)


def rollback(ctx: ActionContext, params: RollbackParams) -> Result:
    deployer = ctx.resource(RELEASES)
    try:
        failed_release = deployer.release(params.release)
        if not params.to:
            return Result.failure(f"{ctx.env} had no release before {params.release}: nothing "
                                  "to roll back to; the environment stays on it")  # fmt: skip
        previous = deployer.release(params.to)
        deployer.pin(ctx.env, previous)
        failed = deployer.apply(ctx.env) or deployer.verify(ctx.env)
    except ERRORS as exc:
        failed = [str(exc)]
    if failed:
        deployer.record(ctx.env, failed_release, Outcome.ROLLBACK_FAILED, failed[0])
        return Result.failure(f"rollback of {ctx.env} to {params.to} failed: {failed[0]}",
                              env=ctx.env, release=params.to, rolled_back=False)  # fmt: skip
    deployer.record(ctx.env, failed_release, Outcome.ROLLED_BACK, f"back on {params.to}")
    return Result.success(changed=True, env=ctx.env, release=params.to, rolled_back=True)


def register(registry: ActionRegistry) -> None:
    registry.register(
        "releases.gate",
        ReleaseParams,
        "Refuse a deploy out of order, outside the maintenance window or in a change freeze",
    )(gate)
    registry.register(
        "releases.plan",
        PlanParams,
        "state.apply test=True of the release, as add/change/remove per host",
    )(make_plan)
    registry.register(
        "releases.drift",
        NoParams,
        "The plan of the pinned release: drift, as add/change/remove per host",
    )(drift)
    registry.register(
        "releases.pin", ReleaseParams, "Point the environment's saltenv at the release (atomic)"
    )(pin)
    registry.register(
        "releases.apply", ReleaseParams, "The environment's highstate from its pinned release"
    )(apply)
    registry.register(
        "releases.verify",
        ReleaseParams,
        "Every host's health checks (fluxora.verify); records a verified deploy",
    )(verify)
    registry.register("releases.rollback", RollbackParams,
                      "Pin, apply and verify the previous release again")(rollback)  # fmt: skip
