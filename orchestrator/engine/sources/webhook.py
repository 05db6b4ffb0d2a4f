"""`POST /events`: a signed JSON event `{"tag": ..., "data": {...}, "id": ...?}`.

Checked in this order, each refusal counted in `fluxora_events_rejected_total`: body size
(413), signature and timestamp (401), JSON (400 naming the parse error), fields (400); then the
event is committed (with its signature, so a replay is refused even after a restart) and
acknowledged with 202 and its id. An id seen before is acknowledged as a duplicate when the
event is the same (tag and data), and refused with 409 when it is not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orchestrator.core.events import Event, EventSource, InvalidEventError
from orchestrator.core.inbox import Admission, Intake, Submission
from orchestrator.engine.config import WebhookConfig
from orchestrator.engine.sources import signing
from orchestrator.engine.sources.http_common import (
    Refusal,
    check_open,
    read_body,
    refuse,
    submit_all,
    verify_request,
)
from orchestrator.engine.sources.payload import load

FIELDS = {"tag", "data", "id"}


def parse_event(body: bytes) -> Event:
    payload = load(body)
    if not isinstance(payload, dict):
        raise Refusal(400, "invalid_payload", "body must be a JSON object")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise Refusal(
            400, "invalid_payload", f"unknown field {unknown[0]!r} (allowed: data, id, tag)"
        )
    if "tag" not in payload:
        raise Refusal(400, "missing_tag", "missing field 'tag'")
    fields: dict[str, Any] = {"tag": payload["tag"], "data": payload.get("data", {})}
    if payload.get("id") is not None:
        fields["id"] = payload["id"]
    try:
        return Event(source=EventSource.WEBHOOK, **fields)
    except InvalidEventError as exc:
        raise Refusal(400, f"invalid_{exc.field}", f"field {exc}") from None


class WebhookSource:
    def __init__(self, intake: Intake, config: WebhookConfig) -> None:
        self._intake = intake
        self._config = config

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/events", self.post)]

    async def post(self, request: web.Request) -> web.Response:
        try:
            return await self._accept(request)
        except Refusal as refusal:
            return refuse(self._intake, EventSource.WEBHOOK, refusal)

    async def _accept(self, request: web.Request) -> web.Response:
        secret = self._config.secret
        check_open(self._intake, secret is not None, "the webhook secret (FLUXORA_WEBHOOK_SECRET)")
        assert secret is not None
        body = await read_body(request, self._config.max_body_bytes)
        signature = verify_request(request, secret.get_secret_value(), body, self._config)
        event = parse_event(body)
        (admission,) = await submit_all(
            self._intake, [Submission(event=event, signature=signature)]
        )
        if admission is Admission.REPLAYED:
            problem = signing.SignatureProblem.REPLAYED
            raise Refusal(401, problem.value, signing.MESSAGES[problem])
        if admission is Admission.CONFLICT:
            raise Refusal(409, "id_conflict", f"event id {event.id!r} was used for another event")
        return web.json_response({"id": event.id, "status": admission.value}, status=202)
