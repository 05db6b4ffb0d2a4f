"""`salt-run fluxora.runbook` and the orch.dr_drill orchestration on the real test master,
against the real daemon: exit 0 for a completed run, non-zero for one that fails, and the
webhook secret never in the output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.fluxora import SECRET, Daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def runner_config(salt_master: Any, orch_daemon: Daemon, tmp_path: Path) -> Iterator[None]:
    """The master's `fluxora_orchestrator` settings for dev (as master.d/fluxora.conf)."""
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    conf = Path(salt_master.config_dir) / "master.d" / "fluxora.conf"
    conf.parent.mkdir(exist_ok=True)
    settings = {"dev": {"url": orch_daemon.server.url, "secret_file": str(secret_file)}}
    conf.write_text(yaml.safe_dump({"fluxora_orchestrator": settings}))
    try:
        yield
    finally:
        conf.unlink()


def drill(salt_run_cli: Any, directory: Path) -> Any:
    params = json.dumps({"dir": str(directory)})
    return salt_run_cli.run(
        "fluxora.runbook", "name=drill", "env=dev", f"params={params}", _timeout=120
    )


@pytest.mark.usefixtures("runner_config")
def test_a_completed_run_exits_0_with_its_journal(salt_run_cli: Any, tmp_path: Path) -> None:
    result = drill(salt_run_cli, tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.data["status"] == "completed"
    assert result.data["rto_rpo"]["policy"] == "met"
    assert any(line.startswith("step     hold") for line in result.data["steps"])
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.usefixtures("runner_config")
def test_a_failing_run_exits_non_zero(salt_run_cli: Any, tmp_path: Path) -> None:
    (tmp_path / "halt-before").touch()
    result = drill(salt_run_cli, tmp_path)
    assert result.returncode != 0
    assert result.data["status"] == "aborted"
    assert "not-halted" in result.data["error"]


@pytest.mark.usefixtures("runner_config")
def test_an_unknown_environment_is_an_error_naming_the_setting(salt_run_cli: Any) -> None:
    result = salt_run_cli.run("fluxora.runbook", "name=drill", "env=staging", _timeout=60)
    assert result.returncode != 0
    assert "fluxora_orchestrator:staging:url" in result.data["error"]


@pytest.mark.usefixtures("runner_config")
def test_the_dr_drill_orchestration_fails_when_the_run_fails(
    salt_run_cli: Any, tmp_path: Path
) -> None:
    pillar = {"env": "dev", "runbook": "drill", "params": {"dir": str(tmp_path)}}
    passed = salt_run_cli.run("state.orchestrate", "orch.dr_drill", pillar=pillar, _timeout=120)
    assert passed.returncode == 0, passed.stdout
    (tmp_path / "halt-before").touch()
    failed = salt_run_cli.run("state.orchestrate", "orch.dr_drill", pillar=pillar, _timeout=120)
    assert failed.returncode != 0
    (states,) = failed.data["data"].values()
    (state,) = states.values()
    assert state["__id__"] == "orch-dr_drill-runbook-salt-runner"
    assert state["result"] is False
