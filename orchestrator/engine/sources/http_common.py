"""What the HTTP sources share: reading a bounded body and answering a refusal."""

from __future__ import annotations

from aiohttp import web

from orchestrator.core.events import EventSource
from orchestrator.core.inbox import Intake


class Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def refuse(intake: Intake, source: EventSource, refusal: Refusal) -> web.Response:
    """Count the rejection and answer with the reason and a message a person can act on."""
    intake.reject(source, refusal.reason)
    body = {"error": refusal.message, "reason": refusal.reason}
    return web.json_response(body, status=refusal.status)


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Refusal(413, "too_large", f"body is larger than the {limit}-byte limit")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refusal(413, "too_large", f"body is larger than the {limit}-byte limit") from None


def check_open(intake: Intake, configured: bool, what: str) -> None:
    if not intake.accepting:
        raise Refusal(503, "shutting_down", "the daemon is shutting down; retry later")
    if not configured:
        raise Refusal(503, "not_configured", f"{what} is not configured on this daemon")
