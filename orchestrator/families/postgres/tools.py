"""Where the PostgreSQL client programs are: the configured directory, else PATH, else the
server's bindir (Debian links only some of them into /usr/bin)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path


def find_tool(name: str, bin_dir: Path | None) -> str:
    if bin_dir is not None:
        return str(bin_dir / name)
    return shutil.which(name) or str(Path(_pg_config_bindir()) / name)


@functools.cache
def _pg_config_bindir() -> str:
    try:
        result = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "/usr/bin"
    return result.stdout.strip() or "/usr/bin"


def tool_version(path: str) -> str:
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    except OSError as exc:
        return f"unavailable: {exc.strerror or exc}"
    return result.stdout.strip()
