from __future__ import annotations

import pydantic
import pytest

from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import (
    Action,
    ActionContext,
    ActionRegistry,
    DuplicateActionError,
    MissingResourceError,
    NoParams,
    UnknownActionError,
)
from orchestrator.core.resources import ResourceKey, Resources
from orchestrator.core.results import MultiResult, Result
from orchestrator.families.basic.actions import LogParams


def test_builtin_registry_has_noop_and_log() -> None:
    registry = builtin_registry()
    assert {"noop", "log"} <= set(registry.names())
    noop = registry.get("noop")
    assert noop(ActionContext(env="dev"), noop.parse({})).ok


def test_registries_do_not_share_state() -> None:
    first, second = ActionRegistry(), ActionRegistry()
    first.add(Action("x", lambda ctx, p: Result.success(), NoParams, "x"))
    assert "x" in first
    assert "x" not in second


def test_name_clash_is_an_error() -> None:
    registry = builtin_registry()
    with pytest.raises(DuplicateActionError, match="action 'noop' is already registered"):
        registry.add(Action("noop", lambda ctx, p: Result.success(), NoParams, "again"))


def test_unknown_action_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownActionError, match=r"unknown action 'nope' \(known: (.+, )?log, noop, "
    ):
        builtin_registry().get("nope")


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(pydantic.ValidationError, match="extra"):
        builtin_registry().get("log").parse({"message": "m", "colour": "red"})
    assert LogParams(message="m").fields == {}


COUNTER = ResourceKey[list[int]]("counter")


def test_missing_resource_names_it_and_the_env() -> None:
    ctx = ActionContext(env="dev", resources=Resources().add(ResourceKey[int]("other"), 1))
    with pytest.raises(MissingResourceError, match=r"'counter' is not configured for .*'dev'"):
        ctx.resource(COUNTER)


def test_a_resource_is_found_by_its_key() -> None:
    counter = [1]
    ctx = ActionContext(env="dev", resources=Resources().add(COUNTER, counter))
    assert ctx.resource(COUNTER) is counter
    assert ctx.resource(ResourceKey[list[int]]("counter")) is counter  # keys are their names


def test_adding_a_resource_leaves_the_set_it_was_added_to_as_it_was() -> None:
    empty = Resources()
    one = empty.add(COUNTER, [])
    assert COUNTER not in empty
    assert list(one) == [COUNTER]
    assert len(empty.merged(one)) == 1


def test_fan_out_fails_when_any_host_fails() -> None:
    multi = MultiResult(
        {"db1": Result.success(changed=True), "db2": Result.failure("disk full", host="db2")}
    )
    assert not multi.ok
    assert set(multi.failed_hosts) == {"db2"}
    summary = multi.summary()
    assert summary.error == "failed on db2"
    assert summary.changed
    assert summary.data["hosts"]["db2"]["error"] == "disk full"
    assert MultiResult({"db1": Result.success()}).summary().ok
