"""The daemon's one HTTP server: health, readiness and metrics; sources and the read-only
API add their routes (`routes=`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from orchestrator.metrics import Metrics

METRICS_KEY = web.AppKey("metrics", Metrics)
READY_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("ready")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[READY_KEY]():
        return web.json_response({"status": "not ready"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    # Negotiated: OpenMetrics for a Prometheus that asks for it, text 0.0.4 otherwise.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def build_app(
    metrics_: Metrics,
    routes: Sequence[web.RouteDef] = (),
    ready: Callable[[], bool] = lambda: True,
    client_max_size: int = 1024**2,
) -> web.Application:
    app = web.Application(client_max_size=client_max_size)
    app[METRICS_KEY] = metrics_
    app[READY_KEY] = ready
    app.router.add_routes(routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
