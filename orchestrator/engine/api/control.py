"""`POST /api/jobs/{id}/abort`: the kill switch. Signed like `POST /events` (HMAC with the
webhook secret over timestamp, method, this path and body: whoever may send events may stop a
job, and a signature for one job or for an event stops nothing else), because unlike the rest
of `/api/` it changes something. Each signature is recorded in the store like an event's, so
a replay is refused; refusals are counted in `fluxora_control_rejected_total{action,reason}`.

202 when this daemon runs the job (the running step is signalled, rollbacks run, the job ends
`aborted` with "aborted by operator"); 404 for an unknown job; 409 when the job is finished,
not started, running on another daemon, or past its steps (a rollback is never cut short);
401/503 as for `POST /events`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter

from orchestrator.core.logs import get_logger
from orchestrator.engine.config import WebhookConfig
from orchestrator.engine.executor.service import AbortAnswer
from orchestrator.engine.sources import signing
from orchestrator.engine.sources.http_common import Refusal, read_body, verify_request
from orchestrator.store.runner import StoreRunner

log = get_logger(__name__)

OPERATOR_ABORT = "aborted by operator"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ControlRoutes:
    def __init__(
        self,
        abort: Callable[[str, str], Awaitable[AbortAnswer]],
        runner: StoreRunner,
        webhook: WebhookConfig,
        rejected: Counter,
    ) -> None:
        self._abort = abort
        self._runner = runner
        self._webhook = webhook
        self._rejected = rejected

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/jobs/{job_id}/abort", self.abort)]

    async def abort(self, request: web.Request) -> web.Response:
        try:
            body = await self._authentic(request)
        except Refusal as refusal:
            self._rejected.labels("abort", refusal.reason).inc()
            body_ = {"error": refusal.message, "reason": refusal.reason}
            return web.json_response(body_, status=refusal.status)
        job_id = request.match_info["job_id"]
        by = _requester(body)
        answer = await self._abort(job_id, OPERATOR_ABORT)
        if answer is AbortAnswer.NOT_RUNNING_HERE:
            return await self._not_running(job_id)
        if answer is AbortAnswer.PAST_STEPS:
            return _error(409, f"job {job_id} is past its steps (rollbacks or final checks run)")
        log.warning("job abort requested", job_id=job_id, by=by)
        return web.json_response({"id": job_id, "status": "aborting"}, status=202)

    async def _authentic(self, request: web.Request) -> bytes:
        """The body of a signed request seen for the first time; else a `Refusal`."""
        secret = self._webhook.secret
        if secret is None:
            raise Refusal(
                503,
                "not_configured",
                "the webhook secret (FLUXORA_WEBHOOK_SECRET) is not configured",
            )
        body = await read_body(request, self._webhook.max_body_bytes)
        signature = verify_request(request, secret.get_secret_value(), body, self._webhook)
        if not await self._runner.call(self._runner.store.use_signature, signature):
            problem = signing.SignatureProblem.REPLAYED
            raise Refusal(401, problem.value, signing.MESSAGES[problem])
        return body

    async def _not_running(self, job_id: str) -> web.Response:
        job = await self._runner.call(self._runner.store.get_job, job_id)
        if job is None:
            return _error(404, f"no job {job_id!r}")
        if job.status.finished:
            return _error(409, f"job {job_id} is already {job.status.value}")
        where = f" on daemon {job.owner!r}" if job.owner else ""
        return _error(409, f"job {job_id} is {job.status.value}{where}, not running here")


def _requester(body: bytes) -> str:
    try:
        payload = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "unknown"
    return str(payload.get("by", "unknown")) if isinstance(payload, dict) else "unknown"
