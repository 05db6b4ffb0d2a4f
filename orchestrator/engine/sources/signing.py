"""Webhook signatures: HMAC-SHA256 over `timestamp + "." + body`, sent as
`X-Fluxora-Timestamp: <unix seconds>` and `X-Fluxora-Signature: sha256=<hex>`."""

from __future__ import annotations

import hashlib
import hmac
import time
from enum import StrEnum

TIMESTAMP_HEADER = "X-Fluxora-Timestamp"
SIGNATURE_HEADER = "X-Fluxora-Signature"
PREFIX = "sha256="


class SignatureProblem(StrEnum):
    """Why a signature is refused (the `reason` label of the rejections metric)."""

    MISSING = "missing_signature"
    BAD = "bad_signature"
    STALE = "stale_timestamp"
    REPLAYED = "replayed_signature"


MESSAGES = {
    SignatureProblem.MISSING: f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header",
    SignatureProblem.BAD: "signature does not match (HMAC-SHA256 over timestamp.body)",
    SignatureProblem.STALE: "timestamp outside the replay window",
    SignatureProblem.REPLAYED: "signature already used (replayed request)",
}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return PREFIX + digest.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def check(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    window_seconds: float,
    now: float | None = None,
) -> SignatureProblem | None:
    """None when the request is authentic and fresh; else what is wrong with it."""
    if not timestamp or not signature:
        return SignatureProblem.MISSING
    if not timestamp.isdigit() or not signature.startswith(PREFIX):
        return SignatureProblem.BAD
    if not hmac.compare_digest(sign(secret, int(timestamp), body), signature):
        return SignatureProblem.BAD
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > window_seconds:
        return SignatureProblem.STALE
    return None
