"""The shipped Prometheus rules and configs pass the real tools: promtool and amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.monitoring import (
    ALERTMANAGER_CONFIG,
    MONITORING_DIR,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    alertmanager_target_file,
    scrape_target_files,
    write_target_file,
)
from tests.harness.monitoring_inventory import alert_rules

pytestmark = [pytest.mark.integration, pytest.mark.validate]

TESTS_DIR = MONITORING_DIR / "prometheus" / "tests"


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


def test_promtool_accepts_every_rule_file() -> None:
    files = sorted(str(p) for p in RULES_DIR.glob("*.rules.yml"))
    result = _run("promtool", "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass() -> None:
    files = sorted(p.name for p in TESTS_DIR.glob("*.test.yml"))
    result = _run("promtool", "test", "rules", *files, cwd=TESTS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_fails_a_wrong_expectation(tmp_path: Path) -> None:
    test_file = TESTS_DIR / "drills.test.yml"
    broken = test_file.read_text().replace("an RTO of 1m 30s", "an RTO of 1m 31s")
    (tmp_path / "rules").symlink_to(RULES_DIR)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / test_file.name).write_text(broken)
    result = _run("promtool", "test", "rules", test_file.name, cwd=tmp_path / "tests")
    assert result.returncode == 1
    assert "FluxoraDrillRTOOverTarget" in result.stdout + result.stderr


def _deployed_layout(root: Path) -> Path:
    """prometheus.yml and rules as the state deploys them, with a target file per job."""
    shutil.copy(PROMETHEUS_CONFIG, root / "prometheus.yml")
    shutil.copytree(RULES_DIR, root / "rules")
    group = [{"targets": ["127.0.0.1:9100"], "labels": {"env": "dev"}}]
    for relative in [*scrape_target_files().values(), alertmanager_target_file()]:
        write_target_file(root, relative, group)
    return root / "prometheus.yml"


def test_promtool_accepts_the_config_with_its_target_files(tmp_path: Path) -> None:
    result = _run("promtool", "check", "config", str(_deployed_layout(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr  # every file_sd file was found


def test_promtool_rejects_a_malformed_target_file(tmp_path: Path) -> None:
    config = _deployed_layout(tmp_path)
    (tmp_path / scrape_target_files()["postgres"]).write_text('[{"targets": "not-a-list"}]')
    result = _run("promtool", "check", "config", str(config))
    assert result.returncode == 1
    assert "postgres.json" in result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = _run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 inhibit rules" in result.stdout


def test_amtool_routes_every_alert_to_the_orchestrator() -> None:
    names = sorted({rule["alert"] for _, rule in alert_rules()})
    for name in names:
        result = _run(
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            "--verify.receivers=fluxora-orchestrator",
            f"alertname={name}",
            "env=prod",
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
