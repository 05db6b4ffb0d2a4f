"""Fuzz every endpoint of a live daemon with hypothesis: hostile bodies (random bytes, JSON with
NaN, huge numbers, deep nesting, lone surrogates, odd tags and ids), hostile headers and
timestamps, random paths and query strings. Asserted for every request: never a 5xx; every
refusal of an event or an abort is counted (the rejection counters grow by exactly the refusals
seen); and afterwards the daemon still accepts a valid event. `FLUXORA_FUZZ_EXAMPLES` (default
300) is the number of requests per endpoint."""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.engine.sources.signing import signed_headers
from tests.harness.fluxora import SECRET, TOKEN, Daemon, start_daemon

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FLUXORA_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text including what JSON can carry but a database cannot: lone surrogates, NUL, controls.
nasty_text = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["\ud800", "a/\udc00", "\x00", "\x1b[31m", "fluxora/test/x", "a b", "/", "é/ü", "💥/x"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 3000))
    return b'{"tag": "a/b", "data": {"x": ' + b"[" * depth + b"]" * depth + b"}}"


def _dumps(value: Any) -> bytes:
    # surrogatepass: a lone surrogate reaches the daemon as the \ud800 escape JSON allows.
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


event_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(_dumps),
    st.fixed_dictionaries(
        {"tag": nasty_text | json_values},
        optional={"data": json_values, "id": nasty_text | json_values},
    ).map(_dumps),
    deep(),
    st.integers(4290, 4400).map(lambda n: b'{"tag": "a/b", "data": {"x": ' + b"9" * n + b"}}"),
    st.just(b'\xef\xbb\xbf{"tag": "a/b"}'),
)  # fmt: skip
alert = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | nasty_text,
     "labels": st.dictionaries(nasty_text, nasty_text, max_size=3).map(
         lambda labels: {"alertname": "FuzzAlert", **labels})},
    optional={"fingerprint": nasty_text, "startsAt": nasty_text, "annotations": json_values},
)  # fmt: skip
notifications = st.one_of(
    st.binary(max_size=200),
    json_values.map(_dumps),
    st.fixed_dictionaries(
        {"version": st.just("4") | nasty_text, "status": st.just("firing") | nasty_text,
         "alerts": st.lists(alert, max_size=3)},
        optional={"groupKey": nasty_text, "truncatedAlerts": st.integers(-5, 10**20)},
    ).map(_dumps),
)  # fmt: skip
# Header values: anything but CR and LF, which no client puts in a header.
header_text = nasty_text.map(lambda t: t.replace("\r", "").replace("\n", ""))
stamps = st.one_of(st.none(), header_text, st.integers(0, 10**14).map(str))
path_text = nasty_text.map(
    lambda t: urllib.parse.quote(t.encode("utf-8", "surrogatepass"), safe="")
)


class Live:
    """The daemon, and what the fuzz saw: refusals it should have counted."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        host, port = daemon.server.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.requests = 0

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value.encode("latin-1", "replace"))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            status = conn.getresponse().status
        finally:
            conn.close()
        self.requests += 1
        assert status < 500, (method, path, body[:200], headers, status)
        return status

    def counted(self, name: str) -> float:
        """The refusals counted: `name`, plus requests too malformed to reach a route (a bad
        header byte), which only `fluxora_http_responses_total{route="(unparsed)"}` sees."""
        total = 0.0
        for line in self.daemon.client.metrics_text().splitlines():
            unparsed = line.startswith('fluxora_http_responses_total{code="4') and (
                'route="(unparsed)"' in line
            )
            if line.startswith(name + "{") or unparsed:
                total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    daemon = start_daemon(tmp_path_factory.mktemp("fuzz"))
    yield Live(daemon)
    daemon.stop()


def _counts_every_refusal(live: Live, metric: str, statuses: list[int], before: float) -> None:
    refused = sum(1 for s in statuses if 400 <= s < 500)
    assert live.counted(metric) - before == refused
    _still_serving_without_a_traceback(live)


def _still_serving_without_a_traceback(live: Live) -> None:
    assert live.daemon.client.post_event("fluxora/test/after-fuzz").status == 202
    log = (live.daemon.config.parent / "orch.log").read_text()
    assert "Traceback" not in log


def test_fuzz_post_events(live: Live) -> None:
    before, statuses = live.counted("fluxora_events_rejected_total"), []

    @FUZZ
    @given(body=event_bodies, signed=st.booleans(), stamp=stamps)
    def one(body: bytes, signed: bool, stamp: str | None) -> None:
        headers = signed_headers(SECRET, body) if signed else {}
        if stamp is not None:
            headers["X-Fluxora-Timestamp"] = stamp
        statuses.append(live.send("POST", "/events", body, headers))

    one()
    _counts_every_refusal(live, "fluxora_events_rejected_total", statuses, before)


def test_fuzz_post_alertmanager(live: Live) -> None:
    before, statuses = live.counted("fluxora_events_rejected_total"), []

    @FUZZ
    @given(body=notifications, token=st.just(TOKEN) | header_text)
    def one(body: bytes, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        statuses.append(live.send("POST", "/alertmanager", body, headers))

    one()
    _counts_every_refusal(live, "fluxora_events_rejected_total", statuses, before)


def test_fuzz_post_abort(live: Live) -> None:
    before, refusals = live.counted("fluxora_control_rejected_total"), []

    @FUZZ
    @given(job=path_text, body=st.binary(max_size=100), signed=st.booleans(), stamp=stamps)
    def one(job: str, body: bytes, signed: bool, stamp: str | None) -> None:
        path = f"/api/jobs/{job or 'x'}/abort"
        headers = signed_headers(SECRET, body, path=path) if signed else {}
        if stamp is not None:
            headers["X-Fluxora-Timestamp"] = stamp
        status = live.send("POST", path, body, headers)
        if status in {400, 401, 408, 413}:  # refusals; 404/409 are answers about the job
            refusals.append(status)

    one()
    assert live.counted("fluxora_control_rejected_total") - before == len(refusals)
    _still_serving_without_a_traceback(live)


def test_fuzz_reads(live: Live) -> None:
    @FUZZ
    @given(
        path=st.sampled_from(["/api/events", "/api/jobs", "/api/events/", "/api/jobs/", "/metrics",
                              "/healthz", "/readyz", "/", "/api/"]),
        tail=path_text,
        query=st.dictionaries(st.sampled_from(["limit", "tag", "status", "x"]), nasty_text, max_size=3),  # noqa: E501
    )  # fmt: skip
    def one(path: str, tail: str, query: dict[str, str]) -> None:
        encoded = urllib.parse.urlencode(
            {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
        )
        target = path + (tail if path.endswith("/") else "") + ("?" + encoded if encoded else "")
        live.send("GET", target)

    one()
    _still_serving_without_a_traceback(live)
