"""`GET /api/...`: read-only JSON for the CLI (same shapes as `orchestrator.engine.api.views`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from orchestrator.core.jobs import JobStatus
from orchestrator.engine.api import queries
from orchestrator.store.runner import StoreRunner

MAX_LIMIT = 1000


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "50")
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 0 < int(text) <= MAX_LIMIT:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"limit must be 1-{MAX_LIMIT}"}),
            content_type="application/json",
        )
    return int(text)


class ApiRoutes:
    def __init__(self, runner: StoreRunner) -> None:
        self._runner = runner

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/events", self.events),
            web.get("/api/events/{event_id}", self.event),
            web.get("/api/jobs", self.jobs),
            web.get("/api/jobs/{job_id}", self.job),
        ]

    async def _answer(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> web.Response:
        try:
            result = await self._runner.call(query, self._runner.store, *args, **kwargs)
        except queries.NotFoundError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        return web.json_response(result)

    async def events(self, request: web.Request) -> web.Response:
        return await self._answer(
            queries.list_events, limit=_limit(request), tag=request.query.get("tag")
        )

    async def event(self, request: web.Request) -> web.Response:
        return await self._answer(queries.explain, request.match_info["event_id"])

    async def jobs(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status is not None and status not in {s.value for s in JobStatus}:
            return web.json_response({"error": f"unknown status {status!r}"}, status=400)
        return await self._answer(
            queries.list_jobs,
            limit=_limit(request),
            status=status,
            runbook=request.query.get("runbook"),
        )

    async def job(self, request: web.Request) -> web.Response:
        return await self._answer(queries.job_detail, request.match_info["job_id"])
