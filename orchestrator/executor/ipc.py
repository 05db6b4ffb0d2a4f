"""What the intake process and its job worker say to each other, over one socket pair.

Messages are small frozen dataclasses, pickled by `multiprocessing.connection.Connection`
(both ends are this package, started by the same daemon). A request that expects an answer
carries a `ref`; the answer is a `Reply` with the same `ref`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from orchestrator.config import Config


@dataclass(frozen=True)
class Start:
    """The worker's first message from the intake: what `fluxora-orch run` was given."""

    config: Config
    log_level: str


@dataclass(frozen=True)
class Ready:
    """The worker recovered interrupted jobs and claims new ones."""

    pid: int


@dataclass(frozen=True)
class Wake:
    """A rule fired: there are pending jobs to claim."""


@dataclass(frozen=True)
class Abort:
    ref: int
    job_id: str
    reason: str


@dataclass(frozen=True)
class Scrape:
    """Ask for the worker's metric families (answered with a list of prometheus Metrics)."""

    ref: int


@dataclass(frozen=True)
class Stop:
    """Stop claiming; give running steps `grace_seconds`, then mark the rest interrupted."""

    grace_seconds: float


@dataclass(frozen=True)
class Reply:
    ref: int
    value: Any


@dataclass(frozen=True)
class Stopped:
    """The worker's last message before it exits."""


class Channel:
    """One end of the socket pair, read by the running event loop. `receive()` returns None
    once the other end is gone (its process exited or was killed)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._received: asyncio.Queue[object | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self) -> None:
        """Start reading in the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._conn.fileno(), self._readable)

    def send(self, message: object) -> bool:
        """False when the other end is gone."""
        try:
            self._conn.send(message)
        except OSError:
            return False
        return True

    async def receive(self) -> object | None:
        return await self._received.get()

    def close(self) -> None:
        self._detach()
        self._conn.close()

    def _readable(self) -> None:
        try:
            while self._conn.poll():
                self._received.put_nowait(self._conn.recv())
        except (EOFError, OSError):
            self._detach()
            self._received.put_nowait(None)

    def _detach(self) -> None:
        if self._loop is not None and not self._conn.closed:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._conn.fileno())
        self._loop = None
