"""The daemon's one HTTP server: health, readiness and metrics; sources and the read-only
API add their routes (`routes=`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from orchestrator.engine.api.edge import METRICS_KEY, count_responses
from orchestrator.engine.metrics import Metrics
from orchestrator.engine.sources.http_common import BODY_TIMEOUT_KEY

READY_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("ready")
BEFORE_SCRAPE_KEY: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("before_scrape")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[READY_KEY]():
        return web.json_response({"status": "not ready"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    # Negotiated: OpenMetrics for a Prometheus that asks for it, text 0.0.4 otherwise.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    await request.app[BEFORE_SCRAPE_KEY]()
    body = encoder(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _nothing() -> None:
    return None


def build_app(
    metrics_: Metrics,
    routes: Sequence[web.RouteDef] = (),
    *,
    ready: Callable[[], bool] = lambda: True,
    client_max_size: int = 1024**2,
    before_scrape: Callable[[], Awaitable[None]] = _nothing,
    body_timeout_seconds: float = 30.0,
) -> web.Application:
    """`before_scrape` runs before each /metrics exposition (the job worker's families)."""
    app = web.Application(client_max_size=client_max_size, middlewares=[count_responses])
    app[METRICS_KEY] = metrics_
    app[BODY_TIMEOUT_KEY] = body_timeout_seconds
    app[READY_KEY] = ready
    app[BEFORE_SCRAPE_KEY] = before_scrape
    app.router.add_routes(routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
