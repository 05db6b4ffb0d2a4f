"""The platform's forecast workers (not part of this repository) as a stand-in Prometheus
scrapes, exporting their queue depth for the shipped `fluxora-forecast` scrape job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Gauge

from tests.harness.exporters import ClientExporter


class ForecastWorkers(ClientExporter):
    def __init__(self) -> None:
        super().__init__()
        self.queue_depth = Gauge(
            "fluxora_forecast_queue_depth",
            "Forecast jobs waiting, by queue.",
            ["queue"],
            registry=self.registry,
        )
        self.serve()


@contextmanager
def forecast_workers() -> Iterator[ForecastWorkers]:
    workers = ForecastWorkers()
    try:
        yield workers
    finally:
        workers.stop()
