"""`salt-run state.orchestrate orch.deploy|orch.backup` on the real test master."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.orchestrator import fluxora_orch
from tests.harness.salt import DEPLOY_STEPS
from tests.infra.conftest import AppliedDev

pytestmark = pytest.mark.integration


def orchestrate(salt_run_cli: Any, sls: str, pillar: dict[str, Any]) -> Any:
    return salt_run_cli.run("state.orchestrate", sls, pillar=pillar, _timeout=600)


def step_results(result: Any) -> dict[str, bool]:
    """{state id: result} of an orchestration run, from salt-run's JSON output."""
    (states,) = result.data["data"].values()
    return {value["__id__"]: value["result"] for value in states.values()}


def test_deploy_dev_succeeds_in_dependency_order(
    salt_run_cli: Any, dev_applied: AppliedDev
) -> None:
    result = orchestrate(salt_run_cli, "orch.deploy", {"env": "dev"})
    assert result.returncode == 0, result.stdout
    steps = step_results(result)
    assert all(steps.values()), steps
    order = [key for key in steps if key.endswith("-salt-state")]
    assert order == [f"orch-deploy-{name}-salt-state" for name in DEPLOY_STEPS if name != "cloud"]


@pytest.fixture
def orchestrator_port_taken(dev_applied: AppliedDev) -> Iterator[None]:
    """The orchestrator stopped and its port held by another process: its start must fail."""
    service = f"/etc/init.d/{dev_applied.spec.service('orch')}"
    subprocess.run([service, "stop"], check=True, capture_output=True)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", dev_applied.spec.ports["orch"]))
    squatter.listen()
    try:
        yield
    finally:
        squatter.close()
        subprocess.run([service, "stop"], check=False, capture_output=True)
        subprocess.run([service, "start"], check=True, capture_output=True)


def test_deploy_stops_at_the_first_failing_step_and_exits_non_zero(
    salt_run_cli: Any, dev_applied: AppliedDev, orchestrator_port_taken: None
) -> None:
    pillar = {"env": "dev", "health_timeout": 10, "only": ["monitoring", "orchestrator"]}
    result = orchestrate(salt_run_cli, "orch.deploy", pillar)
    assert result.returncode != 0, result.stdout
    steps = step_results(result)
    assert steps["orch-deploy-monitoring-health-salt-function"] is True
    failed = [key for key, ok in steps.items() if not ok]
    assert failed, steps
    assert failed[0].startswith("orch-deploy-orchestrator-"), steps


def test_deploy_to_an_environment_without_hosts_fails(salt_run_cli: Any, salt_minions: Any) -> None:
    result = orchestrate(salt_run_cli, "orch.deploy", {"env": "staging"})
    assert result.returncode != 0, result.stdout
    steps = step_results(result)
    assert steps == {"orch-deploy-sync-salt-function": False}, steps  # failhard: nothing after


def test_deploy_rejects_an_unknown_environment(salt_run_cli: Any, salt_minions: Any) -> None:
    result = orchestrate(salt_run_cli, "orch.deploy", {"env": "qa"})
    assert result.returncode != 0
    assert "pillar 'env' must be dev, staging or prod" in result.stdout


def test_backup_runs_the_orchestrator_cli_and_passes_its_exit_code(
    salt_run_cli: Any, dev_applied: AppliedDev
) -> None:
    config_file = dev_applied.spec.overrides()["orchestrator"]["config_file"]
    direct = subprocess.run(
        [fluxora_orch(), "backup", "--env", "dev", "--kind", "logical", "--config", config_file],
        capture_output=True,
        text=True,
        check=False,
    )
    result = orchestrate(salt_run_cli, "orch.backup", {"env": "dev", "kind": "logical"})
    assert (result.returncode == 0) == (direct.returncode == 0), (result.stdout, direct.stderr)
    assert "fluxora-orch backup --env dev --kind logical" in result.stdout or direct.returncode == 0
