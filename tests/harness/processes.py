"""Start a server process, wait until it answers, stop it; a failure carries the log tail."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class HarnessError(RuntimeError):
    """A test server could not be started or stopped; the message holds its log tail."""


# Below Linux's ephemeral range (32768-60999): a port handed out from inside it could be taken
# as the local port of some outgoing connection before the server binds it (a Patroni node's
# PostgreSQL then does not start and its bootstrap fails).
# Under pytest-xdist each worker draws from its own slice (gw0 the lower half, gw1 the upper), so
# two workers never hand out the same port to servers that bind it later.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
_SLICE = (32000 - 15000) // _WORKERS
_PORTS = range(15000 + _SLICE * _WORKER, 15000 + _SLICE * (_WORKER + 1))
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, not handed out before in this process."""
    while True:
        port = random.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


_TROUBLE = re.compile(r"\b(FATAL|PANIC|ERROR|could not)\b")


def log_tail(path: Path, lines: int = 40) -> str:
    """The log's last lines, led by its earlier FATAL/PANIC/ERROR lines (the cause of a
    failure is often far above the traceback it ends in)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    all_lines = text.splitlines()
    earlier = [line for line in all_lines[:-lines] if _TROUBLE.search(line)][-15:]
    lead = ["(earlier trouble:)", *earlier, "(tail:)"] if earlier else []
    return "\n".join([*lead, *all_lines[-lines:]])


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError):
            return False

    return probe


def children(pid: int) -> list[int]:
    """The pids of process `pid`'s children (e.g. the daemon's job worker), from /proc."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for task in tasks.iterdir() for c in (task / "children").read_text().split()]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; raise HarnessError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class ServerProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)

    def failure(self, reason: str) -> HarnessError:
        return HarnessError(
            f"{self.name} {reason}\n--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
        )


def start_server(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    url: str,
    ready: Callable[[], bool],
    *,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start `argv`, logging to `log_path`; return once `ready()` holds or raise with the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        popen = subprocess.Popen(
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env if env is not None else os.environ),
            start_new_session=True,
        )
    server = ServerProcess(name, popen, log_path, url)
    deadline = time.monotonic() + timeout
    while not ready():
        if popen.poll() is not None:
            raise server.failure(f"exited with code {popen.returncode} before it was ready")
        if time.monotonic() > deadline:
            server.stop()
            raise server.failure(f"was not ready after {timeout:.0f}s")
        time.sleep(0.05)
    return server
