"""fluxora.orchestrator installs the pinned wheel from the release wheelhouse served as
salt://fluxora-dist (pip --no-index), and refuses a wheelhouse of another version."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.pillar import SecretPillar
from tests.harness.salt import SALT_DIR
from tests.harness.saltlocal import LocalMinion
from tests.harness.wheel import add_dependencies, build_wheel

pytestmark = pytest.mark.integration

WHEEL_STATE = "fluxora-orchestrator-install-fluxora_wheel-installed"


@pytest.fixture(scope="module")
def file_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file root whose fluxora-dist/ is the wheelhouse scripts/build-wheel makes."""
    root = tmp_path_factory.mktemp("file-root")
    build_wheel(root / "fluxora-dist")
    return root


def _minion(
    factory: Callable[..., LocalMinion],
    test_pillar: SecretPillar,
    file_root: Path,
    tmp_path: Path,
    orchestrator: dict[str, Any],
) -> LocalMinion:
    """dev-1 with only the orchestrator role, its install paths under tmp_path."""
    pillar = tmp_path / "pillar"
    (pillar / "fluxora").mkdir(parents=True)
    (pillar / "fluxora" / "local.sls").write_text(
        yaml.safe_dump({"fluxora": {"orchestrator": orchestrator}})
    )
    return factory(
        "dev",
        "dev-1",
        ["orchestrator"],
        pillar_roots=[pillar, test_pillar.root, SALT_DIR / "pillar"],
        file_roots=[file_root],
    )


def _apply(minion: LocalMinion) -> dict[str, Any]:
    result = minion.call("state.sls", "fluxora.orchestrator.install", check=False)
    assert isinstance(result, dict), result
    return {key.split("_|-")[1]: value for key, value in result.items()}


def test_state_installs_the_pinned_wheel_without_an_index(
    local_minion_factory: Callable[..., LocalMinion],
    test_pillar: SecretPillar,
    file_root: Path,
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    # The venv the state would make, with the dependencies already importable (the test does
    # not download the dependency tree; the state then installs the wheel itself with pip).
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    add_dependencies(venv, tmp_path)
    paths = {"venv": str(venv), "wheelhouse": str(tmp_path / "dist"), "version": "0.1.0"}
    minion = _minion(local_minion_factory, test_pillar, file_root, tmp_path, paths)

    first = _apply(minion)
    assert all(state["result"] for state in first.values()), first
    assert first[WHEEL_STATE]["changes"] == {"old": None, "new": "0.1.0"}, first[WHEEL_STATE]
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "show", "fluxora-infra"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Version: 0.1.0" in version
    assert "Location: " + str(venv) in version
    assert (venv / "bin" / "fluxora-orch").exists()

    second = _apply(minion)
    assert all(s["result"] and not s["changes"] for s in second.values()), second


def test_state_refuses_a_wheel_of_another_version(
    local_minion_factory: Callable[..., LocalMinion],
    test_pillar: SecretPillar,
    file_root: Path,
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    paths = {"venv": str(venv), "wheelhouse": str(tmp_path / "dist"), "version": "0.2.0"}
    minion = _minion(local_minion_factory, test_pillar, file_root, tmp_path, paths)

    state = _apply(minion)[WHEEL_STATE]
    assert state["result"] is False
    assert "pinned version 0.2.0" in state["comment"], state["comment"]
    assert "holds version 0.1.0" in state["comment"], state["comment"]
    assert not list(venv.glob("lib/python*/site-packages/orchestrator"))
