"""What the HTTP sources share: reading a bounded body and answering a refusal."""

from __future__ import annotations

import asyncio

from aiohttp import web

from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import EventSource
from orchestrator.core.inbox import Admission, Intake, Signature, Submission
from orchestrator.engine.config import WebhookConfig
from orchestrator.engine.sources import signing
from orchestrator.store.base import StoreUnwritableError

DEFAULT_BODY_TIMEOUT = 30.0
BODY_TIMEOUT_KEY = web.AppKey("body_timeout_seconds", float)


RETRY_AFTER_SECONDS = 5


class Refusal(FluxoraError):
    def __init__(
        self, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers = headers or {}


def refuse(intake: Intake, source: EventSource, refusal: Refusal) -> web.Response:
    """Count the rejection and answer with the reason and a message a person can act on."""
    intake.reject(source, refusal.reason)
    body = {"error": refusal.message, "reason": refusal.reason}
    return web.json_response(body, status=refusal.status, headers=refusal.headers)


async def submit_all(intake: Intake, submissions: list[Submission]) -> list[Admission]:
    """Submit and wait for every one; a store that cannot write is a 503 with Retry-After,
    an event it could not save a 500 (logged by the inbox), each counted as a refusal."""
    answers = await asyncio.gather(*(intake.submit(s) for s in submissions), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, StoreUnwritableError):
            raise Refusal(
                503,
                "store_unwritable",
                "the store cannot write (disk full?); retry later",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
    for answer in answers:
        if isinstance(answer, BaseException):
            if not isinstance(answer, FluxoraError):
                raise answer
            raise Refusal(500, "store_refused", str(answer))
    return [a for a in answers if isinstance(a, Admission)]


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, within `limit` bytes and the app's body timeout (a slow sender is cut off)."""
    if request.content_length is not None and request.content_length > limit:
        raise Refusal(413, "too_large", f"body is larger than the {limit}-byte limit")
    timeout = request.config_dict.get(BODY_TIMEOUT_KEY, DEFAULT_BODY_TIMEOUT)
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refusal(413, "too_large", f"body is larger than the {limit}-byte limit") from None
    except TimeoutError:
        raise Refusal(408, "body_timeout", f"body not received within {timeout:g} s") from None


def check_open(intake: Intake, configured: bool, what: str) -> None:
    if not intake.accepting:
        raise Refusal(503, "shutting_down", "the daemon is shutting down; retry later")
    if not configured:
        raise Refusal(503, "not_configured", f"{what} is not configured on this daemon")


def verify_request(
    request: web.Request, secret: str, body: bytes, config: WebhookConfig
) -> Signature:
    """The request's signature, bound to its method and path (`signing`); 401 otherwise."""
    headers = request.headers
    try:
        return signing.verify(
            secret,
            (headers.get(signing.TIMESTAMP_HEADER), headers.get(signing.SIGNATURE_HEADER)),
            method=request.method,
            path=request.raw_path,
            body=body,
            window_seconds=config.replay_window_seconds,
        )
    except signing.SignatureError as exc:
        raise Refusal(401, exc.problem.value, str(exc)) from None
