"""`fluxora-orch run` as a real process: health, metrics, clean stop."""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.orchestrator import fluxora_orch, start_orchestrator, terminate

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_daemon_serves_health_and_metrics_then_stops_on_sigterm(tmp_path: Path) -> None:
    server = start_orchestrator(tmp_path / "data")
    try:
        status, _, body = _get(f"{server.url}/healthz")
        assert status == 200
        assert '"ok"' in body
        status, content_type, text = _get(f"{server.url}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=0.0.4")
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "fluxora_build_info" in names
        check = subprocess.run(
            ["promtool", "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        code = terminate(server)
    assert code == 0
    assert (tmp_path / "data").is_dir()


def test_daemon_exits_zero_on_sigint(tmp_path: Path) -> None:
    server = start_orchestrator(tmp_path / "data")
    server.popen.send_signal(signal.SIGINT)
    assert server.popen.wait(30) == 0


def test_environment_settings_are_used(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    server = start_orchestrator(tmp_path / "ignored", env={"FLUXORA_DATA_DIR": str(data_dir)})
    try:
        # --data-dir on the command line wins over FLUXORA_DATA_DIR
        assert (tmp_path / "ignored").is_dir()
        assert not data_dir.exists()
    finally:
        terminate(server)


def test_bad_listen_address_fails_with_the_setting_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [fluxora_orch(), "run", "--data-dir", str(tmp_path), "--listen", "nowhere"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "--listen: http.listen: " in result.stderr
    assert "expected HOST:PORT" in result.stderr
