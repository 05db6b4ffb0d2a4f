"""The streaming pipeline: a client program's stdout → zstd → object store, and back.

No temporary file on the way in, and memory bounded by a few chunks plus the store's part
buffer whatever the size of the database. SHA-256 is computed by the store's writer as the
compressed bytes pass.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import zstandard

from orchestrator.core.actions import Progress
from orchestrator.core.children import Children, ChildStartError
from orchestrator.core.errors import FluxoraError
from orchestrator.objectstore.base import ObjectStore, ObjectWriter

CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_PROGRESS_EVERY_SECONDS = 0.25


class BackupError(FluxoraError):
    """An expected failure of a backup or restore: the message says what and why."""


class CancelledError(BackupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} cancelled")


class ChecksumMismatchError(BackupError):
    pass


@dataclass(frozen=True)
class Reporter:
    progress: Callable[[Progress], None]
    children: Children
    """Starts the child processes (in their own groups, stopped when cancelled)."""
    message: str = ""

    @property
    def cancelled(self) -> threading.Event:
        return self.children.cancelled

    def stopping(self, what: str) -> None:
        if self.cancelled.is_set():
            raise CancelledError(what)


class _Throttled:
    def __init__(self, reporter: Reporter, total: int | None) -> None:
        self._reporter = reporter
        self._total = total
        self._last = 0.0

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last >= _PROGRESS_EVERY_SECONDS:
            self._last = now
            self._reporter.progress(Progress(done, self._total, "bytes", self._reporter.message))


class _StderrTail:
    """Keeps the last lines a child wrote to stderr, for the error message."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.append(line.decode(errors="replace").rstrip())

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "; ".join(line for line in self.lines if line) or "(no output)"


@dataclass(frozen=True)
class StreamStats:
    raw_bytes: int
    stderr: str


def _enlarge_pipe(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError):  # a smaller pipe only means more reads
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


def stream_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    writer: ObjectWriter,
    *,
    level: int,
    reporter: Reporter,
) -> StreamStats:
    """Run `argv`, compress its stdout into `writer`; raise BackupError when it fails."""
    what = Path(argv[0]).name
    pipes = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    try:
        with reporter.children.started(argv, env={**os.environ, **env}, bufsize=0,
                                       **pipes) as proc:  # fmt: skip
            assert proc.stdout is not None
            assert proc.stderr is not None
            stderr = _StderrTail(proc.stderr)
            raw = _compress_into(proc.stdout, writer, level, reporter, what)
            returncode = proc.wait()
    except ChildStartError as exc:
        raise BackupError(str(exc)) from exc
    reporter.stopping(what)  # a cancelled child exits on its own: say why it stopped
    if returncode != 0:
        raise BackupError(f"{what} failed (exit {returncode}): {stderr.text()}")
    return StreamStats(raw, stderr.text())


def _compress_into(
    source: IO[bytes], writer: ObjectWriter, level: int, reporter: Reporter, what: str
) -> int:
    _enlarge_pipe(source)
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    report = _Throttled(reporter, None)
    raw = 0
    fd = source.fileno()
    while data := os.read(fd, CHUNK):
        raw += len(data)
        if out := compressor.compress(data):
            writer.write(out)
        report(raw)
        reporter.stopping(what)
    writer.write(compressor.flush())
    report(raw, final=True)
    return raw


@dataclass(frozen=True)
class Download:
    raw_bytes: int
    sha256: str


def download_decompressed(
    store: ObjectStore,
    key: str,
    sink: Callable[[bytes], object],
    *,
    expected_sha256: str,
    expected_size: int,
    reporter: Reporter,
) -> Download:
    """Stream `key` through SHA-256 and zstd into `sink`; raise ChecksumMismatchError naming the
    object and both checksums when the stored bytes are not the ones the manifest recorded.

    A corrupted object may also break decompression half-way: the rest is still hashed so the
    checksum, not a decoder message, is what the error reports."""
    digest = hashlib.sha256()
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    report = _Throttled(reporter, expected_size)
    size = raw = 0
    decode_error: zstandard.ZstdError | None = None
    for chunk in store.get(key):
        digest.update(chunk)
        size += len(chunk)
        if decode_error is None:
            try:
                data = decompressor.decompress(chunk)
            except zstandard.ZstdError as exc:
                decode_error = exc
            else:
                raw += len(data)
                sink(data)
        report(size)
        reporter.stopping(f"download of {key}")
    report(size, final=True)
    actual = digest.hexdigest()
    if actual != expected_sha256 or size != expected_size:
        raise ChecksumMismatchError(
            f"object {key} in {store.name} is corrupt: sha256 {actual} ({size} bytes), "
            f"manifest says sha256 {expected_sha256} ({expected_size} bytes)"
        )
    if decode_error is not None or not decompressor.eof:
        raise BackupError(f"object {key}: zstd stream is incomplete or invalid: {decode_error}")
    return Download(raw, actual)
