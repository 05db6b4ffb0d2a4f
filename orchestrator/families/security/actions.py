"""`security.check`: the environment's live cloud resources against the security rules
(`policy.py`). The check itself succeeding is an ok Result whatever it finds: the findings are
its output (each `RESOURCE: RULE: detail`, and a count per rule, which the metrics export and
the alerts watch). AWS refusing to answer fails the step: a check that did not run must not
read as a clean one."""

from __future__ import annotations

from orchestrator.core.actions import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    MissingResourceError,
)
from orchestrator.core.results import Result
from orchestrator.families.aws.asg import AWS_ERRORS
from orchestrator.families.aws.clients import AWS
from orchestrator.families.security import inventory, policy


class CheckParams(ActionParams):
    pass


def check(ctx: ActionContext, params: CheckParams) -> Result:
    try:
        found = policy.check(inventory.read(ctx.resource(AWS), ctx.env))
    except (MissingResourceError, *AWS_ERRORS) as exc:
        return Result.failure(f"security check of {ctx.env} could not read AWS: {exc}")
    counts = dict.fromkeys(policy.RULES, 0)
    for finding in found:
        counts[finding.rule] += 1
        ctx.log.warning("security finding", env=ctx.env, finding=str(finding))
    return Result.success(env=ctx.env, findings=[str(f) for f in found], counts=counts)


def register(registry: ActionRegistry) -> None:
    registry.register(
        "security.check",
        CheckParams,
        "The environment's live cloud resources against the security rules; findings in the output",
    )(check)
