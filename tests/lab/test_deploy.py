"""staging brought up from nothing by `salt-run state.orchestrate orch.deploy` on the lab."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.lab import Lab, topology
from tests.harness.salt import DEPLOY_STEPS
from tests.lab.conftest import Deployed, failures, orchestrate, step_results

# The first lab test carries the session lab's up and deploy (3-8 min on 2 busy cores).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


def test_deploy_brings_every_staging_host_up_from_nothing(staging_deployed: Deployed) -> None:
    result = staging_deployed.first
    assert isinstance(result.data, dict), result.stdout
    steps = step_results(result)
    assert not failures(steps), "\n".join(failures(steps))
    assert result.returncode == 0, result.stdout
    order = [key for key in steps if key.endswith("-salt-state")]
    assert order == [f"orch-deploy-{name}-salt-state" for name in DEPLOY_STEPS]
    print(f"\nstaging orch.deploy from nothing: {staging_deployed.seconds:.0f} s")


def state_apply(lab: Lab, *args: str, target: str = "*", timeout: int = 900) -> dict[str, Any]:
    """`state.apply ARGS` on `target`: {host: {state id: return}} for a glob, {state id:
    return} for one host (salt-factories unwraps a single minion's answer)."""
    result = lab.salt_cli().run("state.apply", *args, minion_tgt=target, _timeout=timeout)
    assert isinstance(result.data, dict), result.stdout
    return dict(result.data)


def test_every_host_is_at_its_highstate_after_the_deploy(staging_deployed: Deployed) -> None:
    hosts = state_apply(staging_deployed.lab, "test=True")  # the highstate, as a plan
    assert set(hosts) == set(topology("staging"))
    pending = {
        host: [
            f"{value['__id__']}: {value.get('comment')}"
            for value in states.values()
            if value["result"] is not True or value.get("changes")
        ]
        for host, states in hosts.items()
    }
    assert not any(pending.values()), pending


def test_a_second_deploy_changes_nothing(staging_deployed: Deployed) -> None:
    result = orchestrate(staging_deployed.lab, "orch.deploy")
    assert result.returncode == 0, result.stdout
    changed = {
        key: value["changes"]
        for key, value in step_results(result).items()
        if key.endswith("-salt-state") and value["changes"]
    }
    assert not changed, changed


def verify(lab: Lab, target: str = "*") -> dict[str, Any]:
    """`state.apply fluxora.verify`, what a deploy verifies with."""
    return state_apply(lab, "fluxora.verify", target=target, timeout=300)


def test_every_role_passes_its_health_check_after_the_deploy(staging_deployed: Deployed) -> None:
    hosts = verify(staging_deployed.lab)
    assert set(hosts) == set(topology("staging"))
    failing = {
        host: [f"{v['__id__']}: {v.get('comment')}" for v in states.values() if not v["result"]]
        for host, states in hosts.items()
    }
    assert not any(failing.values()), failing
    checked = {host: sorted(v["__id__"] for v in states.values()) for host, states in hosts.items()}
    assert all(ids and "fluxora-verify-no-checks-test-nop" not in ids for ids in checked.values())
    print(f"\nstaging health checks after the deploy: {checked}")


CACHE = "stg-cache-1"
REDIS_CONFIG = "/etc/redis/fluxora.conf"


@pytest.fixture
def redis_config_unwritable(staging_deployed: Deployed) -> Iterator[Lab]:
    """On the cache host a directory stands where fluxora.redis writes its config file."""
    lab = staging_deployed.lab
    aside = f"{REDIS_CONFIG}.lab-aside"
    moved = lab.run(CACHE, ["sh", "-c", f"mv {REDIS_CONFIG} {aside} && mkdir {REDIS_CONFIG}"])
    assert moved.returncode == 0, moved.stderr
    try:
        yield lab
    finally:
        lab.run(CACHE, ["sh", "-c", f"rmdir {REDIS_CONFIG} && mv {aside} {REDIS_CONFIG}"])


def test_a_host_failing_its_states_fails_the_deploy_naming_host_and_state(
    redis_config_unwritable: Lab,
) -> None:
    result = orchestrate(redis_config_unwritable, "orch.deploy", only=["redis"], health_timeout=10)
    assert result.returncode != 0, result.stdout
    steps = step_results(result)
    failed = steps["orch-deploy-redis-salt-state"]
    assert failed["result"] is False
    assert CACHE in failed["comment"], failed["comment"]
    host_states = sorted(failed["changes"]["ret"][CACHE].values(), key=lambda s: s["__run_num__"])
    first = next(s for s in host_states if s["result"] is False)
    assert first["__id__"] == "fluxora-redis-config-file-managed", first
    assert "fluxora-redis-config-file-managed" in result.stdout
    assert "orch-deploy-redis-health-salt-function" not in steps  # failhard: nothing after


@pytest.fixture
def redis_down(staging_deployed: Deployed) -> Iterator[Lab]:
    """The cache host's Redis killed; started again by its state afterwards."""
    lab = staging_deployed.lab
    killed = lab.run(CACHE, ["pkill", "-KILL", "-x", "redis-server"])
    assert killed.returncode == 0, killed.stderr
    try:
        yield lab
    finally:
        restarted = lab.salt_cli().run("state.apply", "fluxora.redis", minion_tgt=CACHE)
        assert restarted.returncode == 0, restarted.stdout


def test_verification_fails_naming_the_check_of_a_role_that_does_not_serve(
    redis_down: Lab,
) -> None:
    states = verify(redis_down, CACHE)
    failed = [v["__id__"] for v in states.values() if not v["result"]]
    assert failed == ["fluxora-verify-redis-answers-ping-cmd-run"], states
