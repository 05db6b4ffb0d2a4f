"""Prometheus and Alertmanager from the Debian packages, started on loopback for one test."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.harness.processes import HarnessError, ServerProcess, free_port, http_ok, start_server


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise HarnessError(f"{name} is not installed: scripts/bootstrap installs it")
    return path


def start_prometheus(config_file: Path, workdir: Path) -> ServerProcess:
    """Prometheus with `config_file`, its TSDB under `workdir`; the URL is its HTTP API root."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    return start_server(
        "prometheus", argv, workdir / "prometheus.log", url, http_ok(f"{url}/-/ready")
    )


def start_alertmanager(config_file: Path, workdir: Path) -> ServerProcess:
    """Alertmanager with `config_file`, clustering off, on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary("prometheus-alertmanager"),
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    log = workdir / "alertmanager.log"
    return start_server("alertmanager", argv, log, url, http_ok(f"{url}/-/ready"))
