"""The state contract every Fluxora AWS state keeps (salt/_modules/fluxora_aws.py), no I/O."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

SALT_DIR = Path(__file__).resolve().parents[2] / "salt"


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.replace("/", "_"), SALT_DIR / path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


aws = load("_modules/fluxora_aws.py")
TAGS = {
    "Project": "fluxora",
    "Environment": "prod",
    "Owner": "o",
    "CostCenter": "c",
    "ManagedBy": "salt",
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, current: dict[str, Any] | None, keys: list[str]) -> None:
        self.calls.append(keys)


def test_nothing_to_do_returns_early_without_changes() -> None:
    write = Recorder()
    ret = aws.converge("b", "bucket", lambda: {"a": 1}, {"a": 1}, write, test=False)
    assert ret == {
        "name": "b",
        "result": True,
        "comment": "bucket b is in the desired state",
        "changes": {},
    }
    assert write.calls == []


def test_test_mode_reports_what_would_change_and_writes_nothing() -> None:
    write = Recorder()
    ret = aws.converge("b", "bucket", lambda: {"a": 1, "b": 2}, {"a": 1, "b": 3}, write, test=True)
    assert ret["result"] is None
    assert ret["changes"] == {"old": {"b": 2}, "new": {"b": 3}}
    assert ret["comment"] == "bucket b would be updated (b)"
    assert write.calls == []


def test_a_change_writes_only_the_differing_keys() -> None:
    write = Recorder()
    ret = aws.converge("b", "bucket", lambda: {"a": 1, "b": 2}, {"a": 1, "b": 3}, write, test=False)
    assert (ret["result"], ret["comment"]) == (True, "bucket b updated (b)")
    assert write.calls == [["b"]]


def test_a_missing_resource_is_created_with_old_none() -> None:
    write = Recorder()
    ret = aws.converge("b", "bucket", lambda: None, {"a": 1}, write, test=False)
    assert ret["changes"] == {"old": None, "new": {"a": 1}}
    assert ret["comment"] == "bucket b created"


def test_an_aws_error_is_a_failed_result_not_a_traceback() -> None:
    def read() -> dict[str, Any]:
        raise CommandExecutionError("AccessDenied: nope")

    ret = aws.converge("b", "bucket", read, {"a": 1}, Recorder(), test=False)
    assert ret == {
        "name": "b",
        "result": False,
        "comment": "bucket b: AccessDenied: nope",
        "changes": {},
    }


def test_required_tags_are_checked() -> None:
    assert aws.check_tags(TAGS) == TAGS
    with pytest.raises(CommandExecutionError, match="CostCenter, ManagedBy"):
        aws.check_tags({"Project": "p", "Environment": "e", "Owner": "o", "CostCenter": ""})


def test_references_are_resolved_anywhere_in_a_document() -> None:
    doc = {"Statement": [{"Resource": ["ref:asg:fluxora-prod-api", "arn:aws:s3:::b"]}]}
    resolved = aws.resolve(doc, lambda kind, name: f"<{kind}/{name}>")
    assert resolved == {"Statement": [{"Resource": ["<asg/fluxora-prod-api>", "arn:aws:s3:::b"]}]}


@pytest.mark.parametrize(
    "module", ["fluxora_s3", "fluxora_iam", "fluxora_ec2", "fluxora_asg", "fluxora_route53"]
)
def test_state_module_refuses_to_load_without_its_helpers(module: str) -> None:
    state = load(f"_states/{module}.py")
    state.__salt__ = {}  # type: ignore[attr-defined]
    loaded = state.__virtual__()
    assert isinstance(loaded, tuple)
    assert loaded[0] is False
    assert "saltutil.sync_all" in loaded[1]
    state.__salt__ = {"fluxora_aws.client": aws.client}  # type: ignore[attr-defined]
    assert state.__virtual__() == module
