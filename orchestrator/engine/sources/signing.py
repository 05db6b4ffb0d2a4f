"""Signed requests (`POST /events`, `POST /api/jobs/{id}/abort`): HMAC-SHA256 with the webhook
secret over the timestamp, the method, the path and the body, so a signature is good for one
request to one place; docs/OPERATIONS.md ("Signed requests") is the specification for clients.

    X-Fluxora-Timestamp: <unix seconds, ASCII digits>
    X-Fluxora-Signature: sha256=<hex of HMAC-SHA256(secret, message)>
    message = "<timestamp>\\n<METHOD>\\n<path>\\n" + body

`<path>` is the request target as the daemon receives it (the path, with `?query` if any).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from enum import StrEnum

from orchestrator.core.inbox import Signature

TIMESTAMP_HEADER = "X-Fluxora-Timestamp"
SIGNATURE_HEADER = "X-Fluxora-Signature"
PREFIX = "sha256="
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


class SignatureProblem(StrEnum):
    """Why a signature is refused (the `reason` label of the rejections metric)."""

    MISSING = "missing_signature"
    MALFORMED = "malformed_signature"
    BAD = "bad_signature"
    STALE = "stale_timestamp"
    REPLAYED = "replayed_signature"


MESSAGES = {
    SignatureProblem.MISSING: f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header",
    SignatureProblem.MALFORMED: (
        f"{TIMESTAMP_HEADER} must be 1-12 ASCII digits and {SIGNATURE_HEADER} "
        "'sha256=' and 64 lowercase hex digits"
    ),
    SignatureProblem.BAD: (
        "signature does not match (HMAC-SHA256 over timestamp, method, path and body)"
    ),
    SignatureProblem.STALE: "timestamp outside the replay window",
    SignatureProblem.REPLAYED: "signature already used (replayed request)",
}


class SignatureError(ValueError):
    def __init__(self, problem: SignatureProblem) -> None:
        super().__init__(MESSAGES[problem])
        self.problem = problem


def signed_string(timestamp: int, method: str, path: str, body: bytes) -> bytes:
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    message = signed_string(timestamp, method, path, body)
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str,
    body: bytes,
    timestamp: int | None = None,
    *,
    method: str = "POST",
    path: str = "/events",
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, method, path, body),
        "Content-Type": "application/json",
    }


def verify(
    secret: str,
    headers: tuple[str | None, str | None],
    *,
    method: str,
    path: str,
    body: bytes,
    window_seconds: float,
    now: float | None = None,
) -> Signature:
    """The request's signature when it is authentic and fresh (the caller still has to
    refuse one used before); else `SignatureError` naming the problem."""
    timestamp, signature = headers
    if not timestamp or not signature:
        raise SignatureError(SignatureProblem.MISSING)
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        raise SignatureError(SignatureProblem.MALFORMED)
    stamp = int(timestamp)
    if not hmac.compare_digest(sign(secret, stamp, method, path, body), signature):
        raise SignatureError(SignatureProblem.BAD)
    current = time.time() if now is None else now
    if abs(current - stamp) > window_seconds:
        raise SignatureError(SignatureProblem.STALE)
    return Signature(value=signature, signed_at=datetime.fromtimestamp(stamp, UTC))
