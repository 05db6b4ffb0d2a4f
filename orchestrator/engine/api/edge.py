"""The HTTP server's edge: what every connection and every response goes through.

- `Connections` is the listening socket's protocol factory: at most `http.max_connections`
  open at once (one more is answered `503` and closed at once, counted), each one closed when
  a request's headers have not arrived within `http.header_timeout_seconds` of the connection
  opening or of the previous response (aiohttp's keep-alive timer, which slow header bytes do
  not extend). Bodies are bounded by `http.body_timeout_seconds` where they are read.
- `_Handler` answers a request aiohttp cannot parse with a fixed 400: the parser's message
  quotes the offending bytes (a bearer token, say), so neither the answer nor the log does.
- `count_responses` counts every answer by route and code, and turns an unhandled exception
  into a logged, counted 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from orchestrator.core.logs import get_logger
from orchestrator.engine.metrics import Metrics

log = get_logger(__name__)

METRICS_KEY = web.AppKey("metrics", Metrics)
UNPARSED = "(unparsed)"
UNMATCHED = "(unmatched)"
_TOO_MANY = json.dumps(
    {"error": "too many connections; retry later", "reason": "too_many_connections"}
).encode()
TOO_MANY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
    + str(len(_TOO_MANY)).encode()
    + b"\r\n\r\n"
    + _TOO_MANY
)


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_connections: int
    header_timeout_seconds: float


def route_of(request: web.BaseRequest) -> str:
    """The route's pattern (`/api/jobs/{job_id}`): a bounded label, whatever the path."""
    if isinstance(request, web.Request):
        resource = request.match_info.route.resource
        if resource is not None:
            return resource.canonical
    return UNMATCHED


@web.middleware
async def count_responses(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    metrics = request.app[METRICS_KEY]
    route = route_of(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.http_responses.labels(route, str(exc.status)).inc()
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request failed", route=route, method=request.method)
        metrics.http_responses.labels(route, "500").inc()
        return web.json_response({"error": "internal error", "reason": "internal"}, status=500)
    metrics.http_responses.labels(route, str(response.status)).inc()
    return response


class _Handler(RequestHandler):
    def __init__(self, manager: web.Server, *, metrics: Metrics, **kwargs: object) -> None:
        super().__init__(manager, **kwargs)  # type: ignore[arg-type]
        self._edge_metrics = metrics

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or status >= 500:
            return super().handle_error(request, status, exc, message)
        log.warning("malformed HTTP request refused", kind=type(exc).__name__, status=status)
        self._edge_metrics.http_responses.labels(UNPARSED, str(status)).inc()
        body = {
            "error": f"malformed HTTP request ({type(exc).__name__})",
            "reason": "malformed_http",
        }
        response = web.json_response(body, status=status)
        response.force_close()
        return response


class _TooMany(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(TOO_MANY_RESPONSE)
        transport.close()


class Connections:
    """The protocol factory of the listening socket (see the module docstring)."""

    def __init__(self, server: web.Server, limits: Limits, metrics: Metrics) -> None:
        self._server = server
        self._limits = limits
        self._metrics = metrics
        self._fresh = 0  # handlers made whose connection_made has not run yet

    def open_count(self) -> int:
        return len(self._server.connections) + self._fresh

    def __call__(self) -> asyncio.BaseProtocol:
        loop = asyncio.get_running_loop()
        if self.open_count() >= self._limits.max_connections:
            self._metrics.http_connections_refused.inc()
            log.warning("connection refused: limit reached", limit=self._limits.max_connections)
            return _TooMany()
        self._fresh += 1
        # Runs before the transport's connection_made (both call_soon, this one first), and
        # after every accept already queued: no factory call sees the count in between.
        loop.call_soon(self._settled)
        return _Handler(
            self._server,
            metrics=self._metrics,
            loop=loop,
            keepalive_timeout=self._limits.header_timeout_seconds,
            access_log=None,
        )

    def _settled(self) -> None:
        self._fresh -= 1
