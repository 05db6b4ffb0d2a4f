"""The Salt master event bus: events in (a listener thread), job completions out.

The listener subscribes with Salt's own publish client on the master's socket directory,
keeps tags matching `salt.tags` and not `salt.exclude_tags`, and hands them to the inbox in
batches (what is readable at once). An event's id is its `data["event_id"]` when that is a
string (so a sender can make a retry idempotent), otherwise a fresh one. The listener keeps
reading while commits lag (up to MAX_PENDING events): the master's publisher drops a
subscriber that has not drained for 60 s, and its events with it.

The publisher writes Salt's own frames to the master's pull socket. Neither side goes through
Salt's synchronous wrappers, which start a thread for every event received or fired (about a
third of the daemon's CPU per event when they did).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import queue
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.core.events import Event, EventSource, InvalidEventError, new_event_id
from orchestrator.core.inbox import Admission, Submission
from orchestrator.core.logs import get_logger

log = get_logger(__name__)

MAX_BATCH = 1000
SUBSCRIBE_SECONDS = 10.0
CONNECT_SECONDS = 10.0
MAX_PENDING = 100_000  # events read but not yet committed (~100 MB at 1 KiB each)


def master_opts(master_config: Path) -> dict[str, Any]:
    import salt.config

    opts: dict[str, Any] = salt.config.master_config(str(master_config))
    return opts


def _master_event(opts: Mapping[str, Any], listen: bool) -> Any:
    import salt.utils.event

    return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=listen)


def tag_selected(tag: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(tag, g) for g in include) and not any(
        fnmatch.fnmatchcase(tag, g) for g in exclude
    )


def to_event(tag: str, data: Any) -> Event:
    """A Salt event as ours; data made JSON-safe (Salt's may hold bytes or sets) and held to
    the HTTP sources' rules: standard JSON values only, nesting bounded."""
    payload = data if isinstance(data, dict) else {"value": data}
    try:
        safe = json.loads(json.dumps(payload, default=str, allow_nan=False))
    except RecursionError:
        raise InvalidEventError("data", "nested too deep") from None
    except ValueError:
        raise InvalidEventError("data", "NaN or Infinity is not a JSON value") from None
    event_id = safe.get("event_id")
    return Event(
        tag=tag,
        source=EventSource.SALT,
        data=safe,
        id=event_id if isinstance(event_id, str) and event_id else new_event_id(),
    )


Submit = Callable[[Submission], Coroutine[Any, Any, Admission]]
Reject = Callable[[EventSource, str], None]


class SaltListener:
    """Reads the master's bus in a thread; runs until `stop()`."""

    def __init__(
        self,
        opts: Mapping[str, Any],
        include: Sequence[str],
        exclude: Sequence[str],
        submit: Submit,
        reject: Reject,
    ) -> None:
        self._opts = opts
        self._include, self._exclude = list(include), list(exclude)
        self._submit = submit
        self._reject = reject
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_tag = f"fluxora/internal/listener-stop/{new_event_id()}"
        self._pending = 0  # events handed over, not yet committed
        self._pending_changed = threading.Condition()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        subscribed = threading.Event()  # so no event fired after start() is missed
        self._thread = threading.Thread(
            target=self._read, args=(subscribed,), name="salt-listener", daemon=True
        )
        self._thread.start()
        subscribed.wait(SUBSCRIBE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # The reader blocks in recv(): an event of our own wakes it to see the stop flag.
            waker = _master_event(self._opts, listen=False)
            try:
                waker.fire_event({}, self._wake_tag)
            finally:
                waker.destroy()
            self._thread.join(timeout=5)

    def _read(self, subscribed: threading.Event) -> None:
        # get_event_block, not a timed receive: Salt 3007's subscriber closes and reopens its
        # connection whenever a timed receive times out, and events published meanwhile are
        # lost (a burst lost ~8% that way here). A blocking receive never reconnects.
        bus: Subscriber | None = None
        try:
            bus = Subscriber(self._opts, self._selected)
            bus.connect(SUBSCRIBE_SECONDS)
            subscribed.set()
            while not self._stop.is_set():
                batch = self._drain(bus, bus.get_event_block())
                if batch:
                    self._reserve(len(batch))
                    self._hand_over(batch).add_done_callback(partial(self._release, len(batch)))
        except Exception:
            log.exception("the Salt event listener stopped")
        finally:
            if bus is not None:
                bus.destroy()

    def _reserve(self, count: int) -> None:
        """Keep reading while commits lag (a subscriber that stops reading is dropped by the
        master's publisher after 60 s, losing events); wait only past MAX_PENDING."""
        with self._pending_changed:
            while self._pending + count > MAX_PENDING and not self._stop.is_set():
                self._pending_changed.wait(0.5)
            self._pending += count

    def _release(self, count: int, _: object = None) -> None:
        with self._pending_changed:
            self._pending -= count
            self._pending_changed.notify_all()

    def _drain(self, bus: Any, first: Any) -> list[Submission]:
        """The first event plus whatever else is already readable, as submissions."""
        batch: list[Submission] = []
        raw = first
        while raw is not None:
            submission = self._one(raw.get("tag", ""), raw.get("data"))
            if submission is not None:
                batch.append(submission)
            elif not batch:
                return batch  # not ours (most of the bus): block again rather than poll
            if len(batch) >= MAX_BATCH:
                break  # before reading another: an event read is an event kept
            raw = bus.get_event_noblock()
        return batch

    def _selected(self, tag: str) -> bool:
        return tag != self._wake_tag and tag_selected(tag, self._include, self._exclude)

    def _one(self, tag: str, data: Any) -> Submission | None:
        if not self._selected(tag):
            return None
        try:
            return Submission(event=to_event(tag, data))
        except (InvalidEventError, TypeError, ValueError) as exc:
            log.warning("salt event refused", tag=tag[:200], reason=str(exc))
            self._reject(EventSource.SALT, "invalid_event")
            return None

    def _hand_over(self, batch: list[Submission]) -> Future[None]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._commit(batch), self._loop)

    async def _commit(self, batch: list[Submission]) -> None:
        results = await asyncio.gather(*(self._submit(s) for s in batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("a salt event could not be committed", error=str(result))


class Subscriber:
    """The master's event bus read with Salt's asynchronous publish client, run on an event
    loop of the calling thread's own (made in it: Salt's client takes the current loop).
    Events whose tag is not `wanted` come without their data (never unpacked): most of the
    bus is not ours, our own job completions included."""

    def __init__(self, opts: Mapping[str, Any], wanted: Callable[[str], bool]) -> None:
        import salt.transport
        import tornado.ioloop

        self._wanted = wanted
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        io_loop = tornado.ioloop.IOLoop.current()
        self._client = salt.transport.ipc_publish_client("master", opts, io_loop=io_loop)

    def connect(self, timeout: float) -> None:
        self._loop.run_until_complete(self._client.connect(timeout=timeout))

    def get_event_block(self) -> dict[str, Any] | None:
        return self._receive(None)

    def get_event_noblock(self) -> dict[str, Any] | None:
        return self._receive(0)

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        import salt.utils.event

        raw = self._loop.run_until_complete(self._client.recv(timeout=timeout))
        if raw is None:
            return None
        tag = raw.partition(salt.utils.event.TAGEND.encode())[0].decode(errors="replace")
        if not self._wanted(tag):
            return {"tag": tag, "data": None}
        tag, data = salt.utils.event.SaltEvent.unpack(raw)
        return {"tag": tag, "data": data}

    def destroy(self) -> None:
        self._client.close()
        self._loop.close()


class SaltPublisher:
    """Fires events on the master bus from its own thread (the event loop never waits): what
    queued up meanwhile goes out in one write, in Salt's own framing, to the master's pull
    socket. A failed write is logged and the connection made again for the next."""

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self._opts = opts
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._send, name="salt-publisher", daemon=True)
        self._thread.start()

    def publish(self, tag: str, data: Mapping[str, Any]) -> None:
        self._queue.put((tag, dict(data)))

    def close(self, timeout: float = 5) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _send(self) -> None:
        sock: socket.socket | None = None
        try:
            while (item := self._queue.get()) is not None:
                batch = [item]
                while not self._queue.empty() and (item := self._queue.get()) is not None:
                    batch.append(item)
                try:
                    sock = sock or self._connect()
                    sock.sendall(b"".join(self._frame(tag, data) for tag, data in batch))
                except Exception:
                    log.exception("firing on the Salt bus failed", events=len(batch))
                    _close(sock)
                    sock = None
                if item is None:
                    return
        finally:
            _close(sock)

    def _connect(self) -> socket.socket:
        if self._opts.get("ipc_mode") == "tcp":
            return socket.create_connection(
                ("127.0.0.1", int(self._opts["tcp_master_pull_port"])), timeout=CONNECT_SECONDS
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_SECONDS)
        sock.connect(str(Path(self._opts["sock_dir"]) / "master_event_pull.ipc"))
        return sock

    def _frame(self, tag: str, data: dict[str, Any]) -> bytes:
        """What Salt's `fire_event` writes for (tag, data)."""
        import salt.transport.frame
        import salt.utils.event

        data["_stamp"] = datetime.now(UTC).replace(tzinfo=None).isoformat()
        packed = salt.utils.event.SaltEvent.pack(tag, data, self._opts.get("max_event_size"))
        return bytes(salt.transport.frame.frame_msg_ipc(packed, raw_body=True))


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()


class NullPublisher:
    """No Salt master configured: job completions are only logged."""

    def publish(self, tag: str, data: Mapping[str, Any]) -> None:
        log.debug("salt bus off; not published", tag=tag)

    def close(self, timeout: float = 5) -> None:
        return None
