"""The environment labs, one per environment, shared by every lab test of the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.lab import MOTO_PORT, Lab, build_wheelhouse
from tests.harness.pillar import SecretPillar

# What only the lab changes, merged over every host's pillar: all lab hosts share the machine's
# one kernel clock, which chrony on a lab host would try to set; the lab's S3 is the moto server
# beside the master (barman-cloud's Debian botocore reads no endpoint from ~/.aws/config); the
# workers' forecast window is compressed to the test's seconds: no protection window and a 1 s
# cooldown and warmup hold back the scale-back run right after the pre-scale (3 hours apart when
# scheduled). Not 0 s: moto stores a cooldown of 0 as its default 300 (AWS keeps 0), so every
# apply would find the group changed.
LAB_OVERRIDES: dict[str, Any] = {
    "fluxora": {
        "common": {"timesync": {"enabled": False}},
        "walarchive": {"endpoint_url": f"http://salt:{MOTO_PORT}"},
        "scaling": {
            "groups": {
                "worker": {
                    "cooldown_seconds": 1,
                    "warmup_seconds": 1,
                    "scale_in_protection_windows": [],
                }
            }
        },
    }
}


@pytest.fixture(scope="session")
def lab_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's wheel and its dependencies (the hosts' pip has no index), served to the
    lab's hosts as salt://fluxora-dist."""
    return build_wheelhouse(tmp_path_factory.mktemp("lab-files") / "fluxora-dist")


def _lab(
    env: str,
    *,
    salt_factories: Any,
    tmp_path_factory: pytest.TempPathFactory,
    run_id: str,
    test_pillar: SecretPillar,
    lab_wheelhouse: Path,
) -> Iterator[Lab]:
    lab = Lab.up(
        env,
        factories=salt_factories,
        workdir=tmp_path_factory.mktemp(f"lab-{env}"),
        run_id=run_id,
        pillar_roots=[test_pillar.root],
        gpg_keydir=test_pillar.gnupghome,
        wheelhouse=lab_wheelhouse,
        overrides=LAB_OVERRIDES,
    )
    try:
        yield lab
    finally:
        started = time.monotonic()
        lab.down()
        lab.timings["down_seconds"] = time.monotonic() - started
        TIMINGS[env] = lab.timings


# Each lab's timings (up, deploy, down), in the run's closing summary: the lab tier's cost.
TIMINGS: dict[str, dict[str, float]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for env, timings in TIMINGS.items():
        shown = ", ".join(f"{key} {value:.0f} s" for key, value in timings.items())
        terminalreporter.write_line(f"lab {env}: {shown}")


@pytest.fixture(scope="session")
def staging_lab(
    salt_factories: Any,
    tmp_path_factory: pytest.TempPathFactory,
    run_id: str,
    test_pillar: SecretPillar,
    lab_wheelhouse: Path,
) -> Iterator[Lab]:
    yield from _lab(
        "staging",
        salt_factories=salt_factories,
        tmp_path_factory=tmp_path_factory,
        run_id=run_id,
        test_pillar=test_pillar,
        lab_wheelhouse=lab_wheelhouse,
    )


@dataclass(frozen=True)
class Deployed:
    lab: Lab
    first: Any  # salt-run's result of the first orch.deploy
    seconds: float


def step_results(result: Any) -> dict[str, dict[str, Any]]:
    """{state id: its return} of an orchestration run, from salt-run's JSON output."""
    (states,) = result.data["data"].values()
    return {value["__id__"]: value for value in states.values()}


def failures(steps: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{key}: {value.get('comment')}" for key, value in steps.items() if not value["result"]]


def orchestrate(lab: Lab, sls: str, **pillar: Any) -> Any:
    """`salt-run state.orchestrate SLS pillar=...` on the lab's master."""
    return lab.salt_run_cli().run(
        "state.orchestrate", sls, pillar={"env": lab.env, **pillar}, _timeout=1200
    )


@pytest.fixture(scope="session")
def staging_deployed(staging_lab: Lab) -> Deployed:
    """staging brought up from nothing by `salt-run state.orchestrate orch.deploy`, once. A
    failed deploy fails every lab test with its failing steps, not with what they lead to."""
    started = time.monotonic()
    result = orchestrate(staging_lab, "orch.deploy")
    seconds = time.monotonic() - started
    staging_lab.timings["deploy_seconds"] = seconds
    assert isinstance(result.data, dict), f"orch.deploy printed no result: {result.stdout}"
    assert result.returncode == 0, "\n".join(failures(step_results(result)))
    return Deployed(staging_lab, result, seconds)
