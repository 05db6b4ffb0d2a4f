"""A small HTTP receiver on loopback that records every POST (what a webhook sender delivered)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness.processes import wait_until


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: Any  # the JSON document, or the raw text when it is not JSON


class WebhookReceiver(ThreadingHTTPServer):
    """Answers 200 to every POST and keeps it; `wait_for` polls for a matching delivery."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def matching(self, predicate: Callable[[Delivery], bool]) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if predicate(delivery)]

    def wait_for(
        self, predicate: Callable[[Delivery], bool], timeout: float, what: str
    ) -> Delivery:
        wait_until(lambda: bool(self.matching(predicate)), timeout, what)
        return self.matching(predicate)[0]


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        self.server.record(Delivery(self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the deliveries are the record."""


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A receiver on a free loopback port, stopped when the block ends."""
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=10)
