"""The test salt-master's event bus, used the way Salt's own tools use it."""

from __future__ import annotations

import contextlib
import fnmatch
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import salt.utils.event


def _bus(opts: dict[str, Any], listen: bool) -> Any:
    return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=listen)


def fire(opts: dict[str, Any], tag: str, data: dict[str, Any]) -> None:
    bus = _bus(opts, listen=False)
    try:
        assert bus.fire_event(dict(data), tag), f"could not fire {tag} on the master bus"
    finally:
        bus.destroy()


def fire_on_master(salt_master: Any, tag: str, data: dict[str, Any]) -> None:
    fire(salt_master.config, tag, data)


class BusReader:
    """Every event on the bus, read by a thread with blocking receives (Salt 3007's timed
    receive reconnects on timeout and loses events; its non-blocking one misses what the
    stream already buffered). Stopped by an event of its own."""

    def __init__(self, opts: dict[str, Any]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._opts = opts
        self._stop_tag = f"harness/bus-reader-stop/{uuid.uuid4().hex}"
        self._bus = _bus(opts, listen=True)
        self._bus.connect_pub(timeout=10)  # subscribed before anything the caller fires
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            event = self._bus.get_event_block()
            if event is None:
                continue
            if event["tag"] == self._stop_tag:
                return
            self.events.put(dict(event))

    def wait_for(self, glob: str, timeout: float = 20) -> dict[str, Any]:
        """The first event whose tag matches `glob` (others are skipped)."""
        try:
            while True:
                event = self.events.get(timeout=timeout)
                if fnmatch.fnmatchcase(event["tag"], glob):
                    return event
        except queue.Empty:
            raise AssertionError(f"no event matching {glob!r} on the master bus") from None

    def close(self) -> None:
        fire(self._opts, self._stop_tag, {})
        self._thread.join(10)
        self._bus.destroy()


@contextlib.contextmanager
def listening(salt_master: Any) -> Iterator[BusReader]:
    """Subscribed before the block runs, so nothing fired inside it is missed."""
    reader = BusReader(salt_master.config)
    try:
        yield reader
    finally:
        reader.close()
