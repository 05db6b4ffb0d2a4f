"""The aws.asg.* actions' parameters and their failures without AWS or a store."""

from __future__ import annotations

import pydantic
import pytest

from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("aws.asg.set_capacity", {"group": "g", "capacity": -1}, "greater than or equal to 0"),
        ("aws.asg.set_capacity", {"group": "", "capacity": 1}, "at least 1 character"),
        ("aws.asg.scale_by", {"group": "g", "step": "up"}, "'out' or 'in'"),
        ("aws.asg.scale_by", {"group": "g", "step": "in", "by": 0}, "greater than 0"),
        ("aws.asg.scale_by", {"group": "g", "step": "in", "by": -2}, "greater than 0"),
        ("aws.asg.describe", {"group": "g", "region": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_refused_with_the_reason(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        builtin_registry().get(name).parse(params)


def test_without_the_scaling_resource_the_action_fails_with_a_reason() -> None:
    action = builtin_registry().get("aws.asg.scale_by")
    result = action(ActionContext(env="dev"), action.parse({"group": "g", "step": "out"}))
    assert not result.ok
    assert result.error == (
        "scaling g in dev failed: resource 'scaling' is not configured for environment 'dev'"
    )
    assert result.data == {"group": "g", "env": "dev"}
