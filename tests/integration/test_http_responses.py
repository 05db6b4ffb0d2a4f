"""Every answer of the HTTP server counted by route pattern and code, and an unhandled error a
logged, counted 500 with no traceback in the answer (an in-process server on a free port)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from orchestrator.engine.api.server import build_app
from orchestrator.engine.metrics import Metrics

pytestmark = pytest.mark.integration


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a fault of the daemon's own, at /boom")


def test_every_answer_is_counted_and_a_fault_is_a_bare_500() -> None:
    metrics = Metrics(CollectorRegistry())
    app = build_app(metrics, [web.get("/items/{item_id}/boom", boom)])

    async def exercise() -> tuple[int, dict[str, str], int, int]:
        async with TestClient(TestServer(app)) as client:
            fault = await client.get("/items/42/boom")
            body = await fault.json()
            healthy = (await client.get("/healthz")).status
            missing = (await client.get("/no/such/route")).status
            return fault.status, body, healthy, missing

    status, body, healthy, missing = asyncio.run(exercise())
    assert (status, healthy, missing) == (500, 200, 404)
    assert body == {"error": "internal error", "reason": "internal"}

    def count(route: str, code: str) -> float | None:
        labels = {"route": route, "code": code}
        return metrics.registry.get_sample_value("fluxora_http_responses_total", labels)

    assert count("/items/{item_id}/boom", "500") == 1
    assert count("/healthz", "200") == 1
    assert count("(unmatched)", "404") == 1
