"""`POST /alertmanager`: Alertmanager's webhook payload (version 4), bearer-token auth.

Each alert becomes one event `fluxora/alert/<alertname>/<firing|resolved>` whose data holds
its labels, annotations, fingerprint, times and generator URL plus the group's receiver,
group key and external URL. All alerts of a notification are committed before the 202.
Fields beyond the documented ones are ignored, so newer Alertmanagers keep working. An
alert's event id is a digest of its tag and data, so a retried notification is one event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal

from aiohttp import web
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.config import problem
from orchestrator.core.events import Event, EventSource, InvalidEventError
from orchestrator.core.inbox import Intake, Submission
from orchestrator.core.logs import get_logger
from orchestrator.engine.config import AlertmanagerConfig
from orchestrator.engine.sources.http_common import (
    Refusal,
    check_open,
    read_body,
    refuse,
    submit_all,
)
from orchestrator.engine.sources.payload import load

log = get_logger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str = Field(default="", alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class Notification(_Model):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    alerts: list[Alert]


def parse_notification(body: bytes) -> Notification:
    raw = load(body)
    try:
        return Notification.model_validate(raw)
    except ValidationError as exc:
        where, reason = problem(exc)
        raise Refusal(400, "invalid_payload", f"{where or '(body)'}: {reason}") from None


def alert_events(notification: Notification) -> list[Event]:
    events = []
    for index, alert in enumerate(notification.alerts):
        name = alert.labels.get("alertname")
        if not name:
            raise Refusal(400, "invalid_payload", f"alerts.{index}.labels: no alertname")
        data: dict[str, Any] = {
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "fingerprint": alert.fingerprint,
            "startsAt": alert.starts_at,
            "endsAt": alert.ends_at,
            "generatorURL": alert.generator_url,
            "receiver": notification.receiver,
            "groupKey": notification.group_key,
            "externalURL": notification.external_url,
        }
        try:
            tag = f"fluxora/alert/{name}/{alert.status}"
            events.append(
                Event(tag=tag, source=EventSource.ALERTMANAGER, data=data, id=_alert_id(tag, data))
            )
        except InvalidEventError as exc:
            raise Refusal(400, f"invalid_{exc.field}", f"alerts.{index}: {exc}") from None
    return events


def _alert_id(tag: str, data: dict[str, Any]) -> str:
    """The same alert in the same notification (group key, fingerprint, times, labels...) is
    the same event: Alertmanager's retry of a notification is acknowledged as a duplicate."""
    canonical = json.dumps([tag, data], sort_keys=True, separators=(",", ":"))
    return "am-" + hashlib.sha256(canonical.encode()).hexdigest()


class AlertmanagerSource:
    def __init__(
        self,
        intake: Intake,
        config: AlertmanagerConfig,
        max_body_bytes: int,
        truncated: Counter,
    ) -> None:
        self._intake = intake
        self._config = config
        self._max_body_bytes = max_body_bytes
        self._truncated = truncated  # fluxora_alertmanager_truncated_alerts_total

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/alertmanager", self.post)]

    async def post(self, request: web.Request) -> web.Response:
        try:
            return await self._accept(request)
        except Refusal as refusal:
            return refuse(self._intake, EventSource.ALERTMANAGER, refusal)

    async def _accept(self, request: web.Request) -> web.Response:
        token = self._config.token
        check_open(
            self._intake, token is not None, "the Alertmanager token (FLUXORA_ALERTMANAGER_TOKEN)"
        )
        assert token is not None
        self._authorize(request.headers.get("Authorization", ""), token.get_secret_value())
        body = await read_body(request, self._max_body_bytes)
        notification = parse_notification(body)
        events = alert_events(notification)
        if notification.truncated_alerts > 0:
            self._note_truncated(notification)
        await submit_all(self._intake, [Submission(event=e) for e in events])
        return web.json_response({"ids": [e.id for e in events]}, status=202)

    def _note_truncated(self, notification: Notification) -> None:
        """Alertmanager sent only the first alerts of the group (the receiver's `max_alerts`):
        the rest reach no rule, which an operator must hear about."""
        self._truncated.inc(notification.truncated_alerts)
        log.warning(
            "alertmanager left alerts out of a notification: raise max_alerts of its "
            "webhook receiver, or split the group",
            truncated_alerts=notification.truncated_alerts,
            received_alerts=len(notification.alerts),
            receiver=notification.receiver,
            group=notification.group_key,  # a field named *key* would be redacted
        )

    @staticmethod
    def _authorize(header: str, token: str) -> None:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            # aiohttp hands bytes that are not UTF-8 over as surrogate escapes.
            given.strip().encode("utf-8", "surrogateescape"),
            token.encode(),
        ):
            raise Refusal(401, "bad_token", "missing or wrong bearer token")
