"""The signing scheme of POST /events and POST /api/jobs/{id}/abort (docs/OPERATIONS.md,
"Signed requests"): bound to timestamp, method, path and body."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.engine.sources import signing
from orchestrator.engine.sources.signing import SignatureProblem as P

NOW = 1_700_000_000
BODY = b'{"tag":"a/b","id":"x1"}'


def verify(
    timestamp: str | None,
    signature: str | None,
    *,
    secret: str = "s",
    method: str = "POST",
    path: str = "/events",
    body: bytes = BODY,
    now: float = NOW,
) -> signing.Signature:
    return signing.verify(
        secret, (timestamp, signature), method=method, path=path, body=body,
        window_seconds=300, now=now,
    )  # fmt: skip


def problem(timestamp: str | None, signature: str | None, **kwargs: object) -> P:
    with pytest.raises(signing.SignatureError) as error:
        verify(timestamp, signature, **kwargs)  # type: ignore[arg-type]
    assert str(error.value) == signing.MESSAGES[error.value.problem]
    return error.value.problem


def test_the_documented_example_signature() -> None:
    assert signing.signed_string(NOW, "post", "/events", BODY) == (
        b'1700000000\nPOST\n/events\n{"tag":"a/b","id":"x1"}'
    )
    assert signing.sign("s", NOW, "POST", "/events", BODY) == (
        "sha256=00645555aa10257ea3ac7ec8d7c7a48b59d9d97d1aae9f490600e7c112c41e8c"
    )


def test_a_good_signature_carries_its_signed_time() -> None:
    good = signing.sign("s", NOW, "POST", "/events", BODY)
    signature = verify(str(NOW), good, now=NOW + 299)
    assert signature.value == good
    assert signature.signed_at == datetime.fromtimestamp(NOW, UTC)


def test_a_signature_is_bound_to_its_method_path_body_and_secret() -> None:
    good = signing.sign("s", NOW, "POST", "/api/jobs/A/abort", b"{}")
    assert verify(str(NOW), good, path="/api/jobs/A/abort", body=b"{}")
    assert problem(str(NOW), good, path="/api/jobs/B/abort", body=b"{}") is P.BAD
    assert problem(str(NOW), good, path="/events", body=b"{}") is P.BAD
    assert problem(str(NOW), good, method="PUT", path="/api/jobs/A/abort", body=b"{}") is P.BAD
    assert problem(str(NOW), good, path="/api/jobs/A/abort", body=b"{ }") is P.BAD
    assert problem(str(NOW), good, secret="t", path="/api/jobs/A/abort", body=b"{}") is P.BAD


@pytest.mark.parametrize(
    ("timestamp", "signature", "expected"),
    [
        (None, "sha256=" + "0" * 64, P.MISSING),
        (str(NOW), None, P.MISSING),
        ("", "sha256=" + "0" * 64, P.MISSING),
        ("²", "sha256=" + "0" * 64, P.MALFORMED),  # a digit to str.isdigit, not to int()
        ("\u0661\u0667" + "\u0660" * 8, "sha256=" + "0" * 64, P.MALFORMED),  # Arabic-Indic digits
        ("9" * 4301, "sha256=" + "0" * 64, P.MALFORMED),  # past int()'s digit limit
        ("-1", "sha256=" + "0" * 64, P.MALFORMED),
        (str(NOW), "sha256=" + "0" * 63, P.MALFORMED),
        (str(NOW), "sha256=" + "A" * 64, P.MALFORMED),
        (str(NOW), "md5=" + "0" * 64, P.MALFORMED),
        (str(NOW), "sha256=" + "0" * 64, P.BAD),
    ],
)
def test_malformed_headers_are_refused_before_any_arithmetic(
    timestamp: str | None, signature: str | None, expected: P
) -> None:
    assert problem(timestamp, signature) is expected


def test_the_window_holds_on_both_sides() -> None:
    for stamp in (NOW - 301, NOW + 301, 999_999_999_999):
        good = signing.sign("s", stamp, "POST", "/events", BODY)
        assert problem(str(stamp), good) is P.STALE
    # The timestamp is signed: moving it into the window breaks the signature.
    old = signing.sign("s", NOW - 301, "POST", "/events", BODY)
    assert problem(str(NOW), old) is P.BAD
