"""A small disk for disk-full tests: a tmpfs of a given size, named for the run (so a leaked
mount says whose it is), and a way to fill it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def tmpfs(parent: Path, run_id: str, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's syntax: 512k, 8m) under `parent`, unmounted at the end."""
    mount = parent / f"fx-edge-{run_id}-{os.getpid()}"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", mount.name, str(mount)], check=True)  # fmt: skip  # noqa: E501
    try:
        yield mount
    finally:
        # Lazy: a daemon killed by a failing test may still hold a file open on it.
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Fill the file system with one file as large as it will take; delete it to free it."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
        while True:
            out.write(b"\0" * 65536)
    return filler
