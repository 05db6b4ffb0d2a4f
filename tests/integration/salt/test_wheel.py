"""The orchestrator as the states deploy it: the wheel built from the checkout, installed into a
clean venv, validates each environment's rendered config and starts on its embedded defaults."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.harness.orchestrator import start_orchestrator, terminate
from tests.harness.processes import http_ok, wait_until
from tests.harness.wheel import build_wheel, clean_venv
from tests.integration.salt.conftest import ENVIRONMENTS, config_file_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    return clean_venv(tmp_path_factory.mktemp("clean-venv"), wheel)


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A program of the clean venv, from a directory outside the checkout, no PYTHONPATH."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FLUXORA_"))}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=environ,
        timeout=120,
    )


def test_wheel_carries_what_the_daemon_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    runbooks = {p.name for p in (Path(__file__).parents[3] / "dr_runbooks").glob("*.yaml")}
    assert runbooks, "dr_runbooks/ has runbooks"
    assert {f"orchestrator/dr_runbooks/{name}" for name in runbooks} <= names
    assert "orchestrator/defaults/dev.yaml" in names
    assert wheel.name == "fluxora_infra-0.1.0-py3-none-any.whl"


def test_installed_package_is_the_wheels_not_the_checkouts(installed: Path, tmp_path: Path) -> None:
    code = "import orchestrator; print(orchestrator.__file__)"
    found = _run(installed, "python", "-c", code, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).is_relative_to(installed.parent), found.stdout


def test_installed_validate_on_embedded_defaults(installed: Path, tmp_path: Path) -> None:
    result = _run(
        installed, "fluxora-orch", "validate", "--json", "--data-dir", str(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert "backup" in report["runbooks"]
    assert Path(report["runbooks_dir"]).is_relative_to(installed.parent)
    assert report["schedules"], "the embedded dev schedules ship in the wheel"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_installed_validate_on_each_rendered_config(
    installed: Path, highstates: dict[tuple[str, str], Any], env: str, tmp_path: Path
) -> None:
    config_file = config_file_of(highstates, env, tmp_path)
    result = _run(
        installed,
        "fluxora-orch",
        "validate",
        "--config",
        str(config_file),
        "--data-dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"ok: env {env}"), result.stdout


def test_installed_daemon_starts_and_stops(installed: Path, tmp_path: Path) -> None:
    server = start_orchestrator(
        tmp_path / "data",
        program=str(installed / "fluxora-orch"),
        env={"PYTHONPATH": ""},
        timeout=60,
    )
    try:
        # Ready means its job worker (python -m orchestrator.app.worker) runs from the wheel too.
        wait_until(http_ok(f"{server.url}/readyz"), 60, "the installed daemon's /readyz")
    finally:
        assert terminate(server) == 0
