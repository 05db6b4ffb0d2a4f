"""Debian's node and PostgreSQL exporters, started on loopback for one test.

The PostgreSQL exporter runs with its built-in queries only (no --extend.query-path), as the
fluxora.monitoring state deploys it; monitoring/exporter-metrics.yml lists what the rules use.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.harness.postgres import SOCKET_DIR, PgCluster
from tests.harness.processes import ServerProcess, free_port, http_ok, start_server
from tests.harness.prometheus import binary


def _metrics_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/metrics"


def start_postgres_exporter(cluster: PgCluster, workdir: Path) -> ServerProcess:
    """prometheus-postgres-exporter for `cluster` (over its socket); the URL is its /metrics."""
    port = free_port()
    dsn = f"host={SOCKET_DIR} port={cluster.port} user=postgres dbname=postgres sslmode=disable"
    argv = [binary("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{port}"]
    env = {**os.environ, "DATA_SOURCE_NAME": dsn}
    url = _metrics_url(port)
    log = workdir / f"postgres-exporter-{cluster.name}.log"
    return start_server("postgres-exporter", argv, log, url, http_ok(url), env=env)


def start_node_exporter(workdir: Path, textfile_dir: Path | None = None) -> ServerProcess:
    """prometheus-node-exporter with its default collectors; the URL is its /metrics. Its
    textfile collector reads `textfile_dir` (on the DB hosts: Debian's default directory, where
    the WAL archiver writes its file)."""
    port = free_port()
    argv = [binary("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}"]
    if textfile_dir is not None:
        argv.append(f"--collector.textfile.directory={textfile_dir}")
    url = _metrics_url(port)
    return start_server("node-exporter", argv, workdir / "node-exporter.log", url, http_ok(url))


class ClientExporter:
    """Metrics of a `prometheus_client` registry served over HTTP on loopback, in a thread:
    a stand-in for an exporter a test controls. Subclasses declare metrics on `registry` and
    then call `serve()`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def serve(self) -> None:
        self.server, self.thread = start_http_server(0, "127.0.0.1", registry=self.registry)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class QueueDepthExporter(ClientExporter):
    """The forecast workers' `fluxora_forecast_queue_depth{env, queue}`: a test sets the depth
    the real Prometheus scrapes."""

    def __init__(self, env: str, queue: str) -> None:
        super().__init__()
        gauge = Gauge(
            "fluxora_forecast_queue_depth",
            "Forecast jobs waiting.",
            ("env", "queue"),
            registry=self.registry,
        )
        self.depth = gauge.labels(env=env, queue=queue)
        self.serve()
