"""The real `fluxora-orch run` process, started from this venv and talked to over HTTP."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.harness.processes import ServerProcess, free_port, http_ok, start_server


def fluxora_orch() -> str:
    return str(Path(sys.executable).parent / "fluxora-orch")


def start_orchestrator(
    data_dir: Path,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    *,
    prefix: Sequence[str] = (),
    timeout: float = 30,
    port: int | None = None,
    program: str | None = None,
) -> ServerProcess:
    """`fluxora-orch run` on `port` (default a free one) with `data_dir`; ready when /healthz
    answers. `prefix` runs it under another program (bench/event_cost: valgrind); `program` is
    another installation's fluxora-orch (default: this venv's)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [*prefix, program or fluxora_orch(), "run", "--data-dir", str(data_dir)]
    argv += ["--listen", f"127.0.0.1:{port}"]
    return start_server(
        "fluxora-orch",
        [*argv, *args],
        log_path or data_dir.parent / f"{data_dir.name}-orch.log",
        url,
        http_ok(f"{url}/healthz"),
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def terminate(server: ServerProcess, timeout: float = 30) -> int:
    """SIGTERM the daemon and return its exit code."""
    server.popen.send_signal(signal.SIGTERM)
    return server.popen.wait(timeout)
