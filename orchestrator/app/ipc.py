"""What the intake process and its job worker say to each other, over one socket pair.

Messages are small frozen dataclasses, pickled (both ends are this package, started by the
same daemon) and framed as `multiprocessing.connection` frames them. A request that expects
an answer carries a `ref`; the answer is a `Reply` with the same `ref` (`Requests` pairs
them). Either side asks: the intake for aborts and scrapes, the worker for the job store's
writes.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle as _pickle
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.app.config import Config
from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.engine.executor.service import JobStore

log = get_logger(__name__)


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
class StoreCall:
    """The worker asks the intake to make a job-store call (`JOB_STORE_CALLS`: the methods of
    the executor's `JobStore`) in its store thread: one process writes the SQLite store on the
    hot path, in shared group commits."""

    ref: int
    method: str
    args: tuple[Any, ...]


JOB_STORE_CALLS = frozenset(name for name in vars(JobStore) if not name.startswith("_"))


@dataclass(frozen=True)
class Reply:
    ref: int
    value: Any
    error: BaseException | None = None


@dataclass(frozen=True)
class Unreadable:
    """A message that arrived but could not be unpickled (logged where it arrived)."""

    reason: str


@dataclass(frozen=True)
class Stopped:
    """The worker's last message before it exits."""


class ChannelClosed(FluxoraError, ConnectionError):
    """The other process is gone (or did not answer in time)."""


class RemoteError(FluxoraError):
    """A request failed on the other side; the message names the error's type and text
    (sent as this, not as the original: not every exception can be unpickled)."""

    @classmethod
    def of(cls, exc: BaseException) -> RemoteError:
        return cls(f"{type(exc).__name__}: {exc}")


class Channel:
    """One end of the socket pair on asyncio streams: `send` never blocks (the transport
    buffers), so two processes sending at once cannot deadlock on full socket buffers. Frames
    are `multiprocessing.connection`'s: a 4-byte big-endian length, then the pickle.
    `receive()` returns None once the other end is gone (its process exited or was killed)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Start using the socket in the running loop."""
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)

    def send(self, message: object) -> bool:
        """False when the other end is gone (or the channel is not open)."""
        if self._writer is None or self._writer.is_closing():
            return False
        body = _pickle.dumps(message)
        self._writer.write(_HEADER.pack(len(body)) + body)
        return True

    async def receive(self) -> object | None:
        if self._reader is None:
            return None
        try:
            header = await self._reader.readexactly(_HEADER.size)
            body = await self._reader.readexactly(_HEADER.unpack(header)[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return _load(body)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()


_HEADER = struct.Struct("!i")


def _load(body: bytes) -> object:
    """The message, or Unreadable (logged) when it cannot be unpickled: a whole frame was
    read, so the next one is intact."""
    try:
        # Only the daemon and the job worker it started share this socket pair (no one else
        # can write to it), so what is unpickled comes from our own process.
        return _pickle.loads(body)  # nosec B301
    except Exception as exc:
        log.exception("unreadable message from the other process", bytes=len(body))
        return Unreadable(reason=str(exc))


class Requests:
    """Requests this side sent and their answers to come."""

    def __init__(self) -> None:
        self._refs = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}

    async def ask(
        self, channel: Channel | None, request: Callable[[int], object], timeout: float | None
    ) -> Any:
        """Send `request(ref)` and return the answer's value (raise its error); ChannelClosed
        when the other side is gone or has not answered within `timeout` seconds."""
        if channel is None:
            raise ChannelClosed
        ref = next(self._refs)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            if not channel.send(request(ref)):
                raise ChannelClosed
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ChannelClosed from None
        finally:
            self._pending.pop(ref, None)

    def answer(self, reply: Reply) -> None:
        future = self._pending.get(reply.ref)
        if future is None or future.done():
            return
        if reply.error is not None:
            future.set_exception(reply.error)
        else:
            future.set_result(reply.value)

    def fail_all(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed())
