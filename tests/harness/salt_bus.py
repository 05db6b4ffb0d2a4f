"""The test salt-master's event bus, used the way Salt's own tools use it."""

from __future__ import annotations

import contextlib
import fnmatch
import time
from collections.abc import Iterator
from typing import Any

import salt.utils.event


def _bus(salt_master: Any, listen: bool) -> Any:
    opts = salt_master.config
    return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=listen)


def fire_on_master(salt_master: Any, tag: str, data: dict[str, Any]) -> None:
    bus = _bus(salt_master, listen=False)
    try:
        assert bus.fire_event(dict(data), tag), f"could not fire {tag} on the master bus"
    finally:
        bus.destroy()


class Listener:
    def __init__(self, bus: Any) -> None:
        self._bus = bus

    def wait_for(self, glob: str, timeout: float = 20) -> dict[str, Any]:
        """The first event whose tag matches `glob` (others are skipped). Polls without
        blocking: a timed receive in Salt 3007 reconnects on timeout and can lose events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self._bus.get_event_noblock()
            if event is None:
                time.sleep(0.01)
            elif fnmatch.fnmatchcase(event["tag"], glob):
                return dict(event)
        raise AssertionError(f"no event matching {glob!r} on the master bus in {timeout}s")


@contextlib.contextmanager
def listening(salt_master: Any) -> Iterator[Listener]:
    """Subscribed before the block runs, so nothing fired inside it is missed."""
    bus = _bus(salt_master, listen=True)
    bus.connect_pub(timeout=10)
    try:
        yield Listener(bus)
    finally:
        bus.destroy()
