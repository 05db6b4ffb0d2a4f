"""Stand-ins Prometheus scrapes: a prometheus_client registry served over HTTP on loopback; and
the platform's forecast workers (not part of this repository) as one, exporting their queue
depth for the shipped `fluxora-forecast` scrape job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Gauge, start_http_server


class StandIn:
    """A registry served on a free loopback port; declare metrics on `registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.server, self.thread = start_http_server(0, "127.0.0.1", registry=self.registry)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class ForecastWorkers(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.queue_depth = Gauge(
            "fluxora_forecast_queue_depth",
            "Forecast jobs waiting, by queue.",
            ["queue"],
            registry=self.registry,
        )


@contextmanager
def forecast_workers() -> Iterator[ForecastWorkers]:
    workers = ForecastWorkers()
    try:
        yield workers
    finally:
        workers.stop()
