"""The dev environment applied for real to the test minion dev-1, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.harness.devenv import DevEnvironment


@dataclass(frozen=True)
class AppliedDev:
    spec: DevEnvironment
    first: dict[str, Any]  # state id -> result of the first highstate


def state_failures(data: dict[str, Any]) -> list[str]:
    return [f"{key}: {value.get('comment')}" for key, value in data.items() if not value["result"]]


def highstate(salt_cli: Any, minion: str) -> dict[str, Any]:
    result = salt_cli.run("state.apply", minion_tgt=minion, _timeout=600)
    assert isinstance(result.data, dict), f"highstate did not compile: {result.stdout}"
    return dict(result.data)


@pytest.fixture(scope="session")
def dev_applied(
    salt_cli: Any, salt_minion: Any, dev_environment_spec: DevEnvironment
) -> Iterator[AppliedDev]:
    """`state.apply` (highstate) on dev-1: every dev role on this machine, on test ports."""
    spec = dev_environment_spec
    try:
        sync = salt_cli.run("saltutil.sync_all", minion_tgt="*")
        assert sync.returncode == 0, sync
        first = highstate(salt_cli, "dev-1")
        assert not state_failures(first), "\n".join(state_failures(first))
        yield AppliedDev(spec, first)
    finally:
        spec.teardown()
