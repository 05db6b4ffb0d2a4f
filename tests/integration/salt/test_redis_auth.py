"""Redis as fluxora.redis configures it (ACL users, default user off, only password hashes in
the file), against a real redis-server; and the health check, which authenticates and PINGs
over the network like a check from another host does."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.harness.processes import ServerProcess, free_port, start_server
from tests.harness.salt import SALT_DIR, load_module

pytestmark = pytest.mark.integration

APP_PASSWORD = "app-0f9e8d7c6b5a"
MONITOR_PASSWORD = "mon-1a2b3c4d5e6f"


def _module() -> Any:
    """salt/_modules/fluxora.py (its probes need no Salt loader dunders)."""
    return load_module(SALT_DIR / "_modules" / "fluxora.py", "fluxora_salt_module")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """redis-server with the formula's template rendered as the state renders it."""
    root = tmp_path_factory.mktemp("redis")
    params = yaml.safe_load(
        (SALT_DIR / "states/fluxora/redis/parameters/defaults.yaml").read_text()
    )
    port = free_port()
    params.update(bind="127.0.0.1", port=port, data_dir=str(root))
    hashes = {
        "app": hashlib.sha256(APP_PASSWORD.encode()).hexdigest(),
        "monitor": hashlib.sha256(MONITOR_PASSWORD.encode()).hexdigest(),
    }
    template = (SALT_DIR / "states/fluxora/redis/files/redis.conf.jinja").read_text()
    config = root / "redis.conf"
    config.write_text(jinja2.Template(template).render(redis=params, hashes=hashes))
    server = start_server(
        "redis-server",
        ["redis-server", str(config)],
        root / "redis.log",
        f"redis://127.0.0.1:{port}",
        ready=lambda: _accepts(port),
    )
    yield server, config
    server.stop()


def _port(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _cli(server: ServerProcess, *args: str) -> str:
    argv = ["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", str(_port(server)), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).strip()


def test_the_config_holds_no_password(redis: tuple[ServerProcess, Path]) -> None:
    text = redis[1].read_text()
    assert APP_PASSWORD not in text
    assert MONITOR_PASSWORD not in text
    assert "user default off" in text


def test_only_authenticated_users_get_in_each_with_its_own_rights(
    redis: tuple[ServerProcess, Path],
) -> None:
    server, _ = redis
    assert _cli(server, "PING").startswith("NOAUTH")
    assert "WRONGPASS" in _cli(server, "--user", "fluxora", "--pass", "wrong", "PING")
    assert _cli(server, "--user", "fluxora", "--pass", APP_PASSWORD, "SET", "k", "v") == "OK"
    monitor = ("--user", "fluxora-monitor", "--pass", MONITOR_PASSWORD)
    assert _cli(server, *monitor, "PING") == "PONG"
    assert _cli(server, *monitor, "GET", "k").startswith("NOPERM")
    assert _cli(
        server, "--user", "fluxora", "--pass", APP_PASSWORD, "CONFIG", "GET", "*"
    ).startswith("NOPERM")


def test_the_health_check_authenticates_and_pings(redis: tuple[ServerProcess, Path]) -> None:
    server, _ = redis
    probe = _module()._redis_probe("127.0.0.1", _port(server), "fluxora-monitor", MONITOR_PASSWORD)
    ok, detail = probe()
    assert ok, detail
    assert "PONG" in detail


def test_the_health_check_fails_on_a_wrong_password(redis: tuple[ServerProcess, Path]) -> None:
    server, _ = redis
    ok, detail = _module()._redis_probe("127.0.0.1", _port(server), "fluxora-monitor", "nope")()
    assert not ok
    assert "WRONGPASS" in detail


def test_the_health_check_fails_on_a_redis_without_auth(tmp_path: Path) -> None:
    """The old configuration (no ACL, no password) answers anyone: the check says so."""
    port = free_port()
    server = start_server(
        "redis-server-open",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        tmp_path / "redis.log",
        f"redis://127.0.0.1:{port}",
        ready=lambda: _accepts(port),
    )
    try:
        ok, detail = _module()._redis_probe("127.0.0.1", port, "fluxora-monitor", "x")()
    finally:
        server.stop()
    assert not ok
    assert "without authentication" in detail
