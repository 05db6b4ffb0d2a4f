"""The daemon's one HTTP server: health, readiness and metrics (routes grow with the daemon)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from orchestrator.metrics import Metrics

METRICS_KEY = web.AppKey("metrics", Metrics)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    # Negotiated: OpenMetrics for a Prometheus that asks for it, text 0.0.4 otherwise.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def build_app(metrics_: Metrics) -> web.Application:
    app = web.Application()
    app[METRICS_KEY] = metrics_
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
