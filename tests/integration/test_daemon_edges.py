"""The daemon's edges on a real `fluxora-orch run`, as an attacker would try them: signatures
bound to their purpose and remembered for their whole window, input refused before the store
(400 naming field and reason, counted), one id one event (409), Alertmanager retries as one
event, and no secret in a log line or an answer."""

from __future__ import annotations

import json
import select
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.events import new_event_id
from orchestrator.engine.sources.signing import signed_headers
from tests.harness import disk
from tests.harness.fluxora import (
    SECRET,
    TOKEN,
    Daemon,
    OrchClient,
    Response,
    secret_env,
    start_daemon,
    write_config,
)
from tests.harness.orchestrator import start_orchestrator
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = start_daemon(tmp_path_factory.mktemp("edges"), shutdown_grace_seconds=1)
    yield started
    started.stop()


def event_body(tag: str = "fluxora/test/edge", **data: Any) -> bytes:
    return json.dumps({"tag": tag, "data": data, "id": new_event_id()}).encode()


def rejected(daemon: Daemon, reason: str, source: str = "webhook") -> float:
    return daemon.client.sample("fluxora_events_rejected_total", source=source, reason=reason)


def control_rejected(daemon: Daemon, reason: str) -> float:
    return daemon.client.sample("fluxora_control_rejected_total", action="abort", reason=reason)


def slow_job(daemon: Daemon) -> str:
    answer = daemon.client.post_event("fluxora/test/slow", {"seconds": 300})
    assert answer.status == 202, answer.body
    job_id = daemon.client.fired_job(answer.body["id"], "slow")
    daemon.client.job(job_id)
    return job_id


# --- signatures bound to their purpose ----------------------------------------------------------


def test_a_captured_event_request_cannot_abort_a_job(daemon: Daemon) -> None:
    body = event_body()
    headers = signed_headers(SECRET, body)
    before = control_rejected(daemon, "bad_signature")
    answer = daemon.client.post("/api/jobs/some-job/abort", body, headers)
    assert (answer.status, answer.body["reason"]) == (401, "bad_signature")
    assert control_rejected(daemon, "bad_signature") == before + 1
    assert daemon.client.post("/events", body, headers).status == 202  # still good where it was


def test_an_abort_signed_for_one_job_stops_no_other_and_is_good_once(daemon: Daemon) -> None:
    running = slow_job(daemon)
    body = b'{"by": "test"}'
    for_other = signed_headers(SECRET, body, path="/api/jobs/another-job/abort")
    answer = daemon.client.post(f"/api/jobs/{running}/abort", body, for_other)
    assert (answer.status, answer.body["reason"]) == (401, "bad_signature")
    assert daemon.client.job(running)["status"] in {"pending", "running"}
    path = f"/api/jobs/{running}/abort"
    headers = signed_headers(SECRET, body, path=path)
    assert daemon.client.post(path, body, headers).status == 202
    before = control_rejected(daemon, "replayed_signature")
    answer = daemon.client.post(path, body, headers)
    assert (answer.status, answer.body["reason"]) == (401, "replayed_signature")
    assert control_rejected(daemon, "replayed_signature") == before + 1
    assert daemon.client.finished_job(running, timeout=30)["status"] == "aborted"


def test_a_future_stamped_request_stays_refused_across_a_restart(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    body = event_body()
    headers = signed_headers(SECRET, body, timestamp=int(time.time()) + 290)
    try:
        assert daemon.client.post("/events", body, headers).status == 202
    finally:
        assert daemon.stop() == 0
    daemon = daemon.restart()
    try:
        answer = daemon.client.post("/events", body, headers)
        assert (answer.status, answer.body["reason"]) == (401, "replayed_signature")
    finally:
        assert daemon.stop() == 0


def test_a_signature_used_at_one_daemon_is_refused_by_another_on_the_same_store(
    tmp_path: Path, pg_store_url: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_daemon(tmp_path / "a", store={"url": pg_store_url}, executor={"node_id": "a"})
    try:
        second = start_daemon(
            tmp_path / "b", store={"url": pg_store_url}, executor={"node_id": "b"}
        )
        try:
            body = event_body()
            headers = signed_headers(SECRET, body)
            assert first.client.post("/events", body, headers).status == 202
            answer = second.client.post("/events", body, headers)
            assert (answer.status, answer.body["reason"]) == (401, "replayed_signature")
            path = "/api/jobs/no-such-job/abort"
            abort = signed_headers(SECRET, b"{}", path=path)
            assert second.client.post(path, b"{}", abort).status == 404
            answer = first.client.post(path, b"{}", abort)
            assert (answer.status, answer.body["reason"]) == (401, "replayed_signature")
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0


# --- input validated before the store -----------------------------------------------------------

BAD_BODIES = [
    (b'{"tag": "fluxora/\\ud800"}', "invalid_string", "body.tag: lone surrogate"),
    (b'{"tag": "a/b", "data": {"x": NaN}}', "non_standard_json", "NaN is not a JSON value"),
    (b'{"tag": "a/b", "data": {"x": 1e400}}', "number_out_of_range", "too large for a float"),
    (b'{"tag": "a/b", "data": {"x": ' + b"9" * 4301 + b"}}", "number_out_of_range", "outside 64 bits"),  # noqa: E501
    (b'{"tag": "a/b", "data": ' + b"[" * 995 + b"]" * 995 + b"}", "too_deep", "nested deeper than 32"),  # noqa: E501
    (b'\xef\xbb\xbf{"tag": "a/b"}', "byte_order_mark", "byte order mark"),
    (b'{"tag": "a/\\u0007"}', "invalid_tag", "field tag: must be printable characters only"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "reason", "message"), BAD_BODIES, ids=[b[1] for b in BAD_BODIES])
def test_bad_input_is_a_400_naming_field_and_reason(
    daemon: Daemon, body: bytes, reason: str, message: str
) -> None:
    before = rejected(daemon, reason)
    answer = daemon.client.post("/events", body, signed_headers(SECRET, body))
    assert (answer.status, answer.body["reason"]) == (400, reason)
    assert message in answer.body["error"]
    assert rejected(daemon, reason) == before + 1


@pytest.mark.parametrize("stamp", ["²", "9" * 4301, "\u0661\u0667" + "\u0660" * 8])
def test_a_timestamp_of_anything_but_ascii_digits_is_a_401(daemon: Daemon, stamp: str) -> None:
    body = event_body()
    headers = {**signed_headers(SECRET, body), "X-Fluxora-Timestamp": stamp}
    answer = _raw_post(daemon, "/events", body, headers)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"malformed_signature" in answer


def test_a_bad_limit_is_a_400(daemon: Daemon) -> None:
    answer = _raw_get(daemon, "/api/events?limit=%C2%B2")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_the_same_id_with_another_body_is_a_409(daemon: Daemon) -> None:
    event_id = new_event_id()
    first = daemon.client.post_event("fluxora/test/edge", {"n": 1}, event_id=event_id)
    # Re-signed (another timestamp): the same body signed in the same second is a replay.
    stamp = int(time.time()) - 1
    again = daemon.client.post_event("fluxora/test/edge", {"n": 1}, event_id, stamp)
    other = daemon.client.post_event("fluxora/test/edge", {"n": 2}, event_id=event_id)
    assert (first.status, again.status, again.body["status"]) == (202, 202, "duplicate")
    assert (other.status, other.body["reason"]) == (409, "id_conflict")
    assert daemon.client.explain(event_id)["data"] == {"n": 1}


def test_an_alertmanager_retry_is_one_event(daemon: Daemon) -> None:
    alert = {"status": "firing", "labels": {"alertname": "EdgeRetry", "severity": "info"},
             "startsAt": "2026-12-07T01:00:00Z", "fingerprint": new_event_id()[:16]}  # fmt: skip
    payload = {"version": "4", "status": "firing", "groupKey": "{}:{alertname=\"EdgeRetry\"}",
               "alerts": [alert]}  # fmt: skip
    first, retry = daemon.client.post_alerts(payload), daemon.client.post_alerts(payload)
    assert (first.status, retry.status) == (202, 202)
    assert first.body["ids"] == retry.body["ids"]
    later = {**alert, "status": "resolved", "endsAt": "2026-12-07T01:05:00Z"}
    resolved = daemon.client.post_alerts({**payload, "status": "resolved", "alerts": [later]})
    assert resolved.body["ids"] != first.body["ids"]
    events = daemon.client.get("/api/events?tag=fluxora/alert/EdgeRetry/*&limit=10")
    assert len(events) == 2


def test_a_bearer_token_with_a_control_character_is_neither_logged_nor_echoed(
    daemon: Daemon,
) -> None:
    leaked = "edge-leak-" + new_event_id()
    headers = {"Authorization": f"Bearer {leaked}\x01{TOKEN}", "Content-Type": "application/json"}
    answer = _raw_post(daemon, "/alertmanager", b"{}", headers)
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]  # aiohttp answers a bad request as 1.0
    assert b'"reason": "malformed_http"' in answer
    assert leaked.encode() not in answer
    assert daemon.client.get("/healthz") == {"status": "ok"}
    log = (daemon.config.parent / "orch.log").read_text()
    assert leaked not in log


def test_a_bearer_token_that_is_not_utf8_is_a_401(daemon: Daemon) -> None:
    request = (
        b"POST /alertmanager HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \x80\xff\r\nContent-Length: 2\r\n\r\n{}"
    )
    answer = _raw(daemon, request)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"reason": "bad_token"' in answer


def _raw(daemon: Daemon, request: bytes) -> bytes:
    """One request on a socket of its own: for what urllib will not send."""
    host, port = daemon.server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _raw_post(daemon: Daemon, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: x",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return _raw(daemon, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _raw_get(daemon: Daemon, path: str) -> bytes:
    return _raw(daemon, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


# --- disk full ----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path, run_id: str) -> Iterator[Path]:
    with disk.tmpfs(tmp_path, run_id, "8m") as mount:
        yield mount


def test_a_full_disk_is_a_503_and_not_ready_until_space_returns(
    tmp_path: Path, small_disk: Path
) -> None:
    daemon = start_daemon(tmp_path, data_dir=small_disk / "data")
    client = daemon.client
    try:
        accepted = client.post_event("fluxora/test/edge", {"before": True})
        assert accepted.status == 202
        filler = disk.fill(small_disk)
        answer = refused_once_full(client)
        assert (answer.status, answer.body["reason"]) == (503, "store_unwritable")
        assert answer.headers["Retry-After"] == "5"
        assert client.sample("fluxora_store_write_failures_total") >= 1
        assert rejected_count(client, "store_unwritable") >= 1
        filler.unlink()
        wait_until(lambda: _status(client, "/readyz") == 200, 15, "/readyz after space returned")
        assert client.sample("fluxora_store_writable") == 1
        assert client.post_event("fluxora/test/edge", {"after": True}).status == 202
        assert client.explain(accepted.body["id"])["data"] == {"before": True}
    finally:
        assert daemon.stop() == 0


def refused_once_full(client: OrchClient) -> Response:
    """Post blobs until one is refused while /readyz says 503 and the store gauge says
    unwritable. The WAL may still hold a few commits' worth of room, and a checkpoint can
    free some after a refusal (the readiness probe then rightly finds room): both are
    posted through."""
    for n in range(400):
        answer = client.post_event("fluxora/test/edge", {"n": n, "blob": "x" * 50_000})
        if answer.status == 202:
            continue
        if _status(client, "/readyz") == 503 and client.sample("fluxora_store_writable") == 0:
            return answer
    raise AssertionError("the full disk never left the daemon refusing and not ready")


def rejected_count(client: OrchClient, reason: str) -> float:
    return client.sample("fluxora_events_rejected_total", source="webhook", reason=reason)


def _status(client: OrchClient, path: str) -> int:
    try:
        with urllib.request.urlopen(f"{client.url}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- private by default -------------------------------------------------------------------------


def test_the_data_dir_and_store_files_are_private(daemon: Daemon) -> None:
    assert daemon.client.post_event("fluxora/test/edge").status == 202
    assert stat.S_IMODE(daemon.data_dir.stat().st_mode) == 0o700
    store_files = list(daemon.data_dir.glob("*.db*")) + list(daemon.data_dir.glob("*.sqlite*"))
    assert store_files
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in store_files} == {
        f.name: 0o600 for f in store_files
    }


# --- connection limits --------------------------------------------------------------------------

LIMITS = {"max_connections": 6, "header_timeout_seconds": 1, "body_timeout_seconds": 1}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = start_daemon(tmp_path_factory.mktemp("limited"), http=LIMITS)
    yield started
    started.stop()


def _connect(daemon: Daemon) -> socket.socket:
    host, port = daemon.server.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closed the connection (sending `trickle` every 0.2 s, as a
    slow client would); fails the test if it is still open after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if trickle:
                sock.sendall(trickle)
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable and sock.recv(4096) == b"":
                return time.monotonic() - start
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    pytest.fail(f"the connection was still open after {seconds} s")


def test_idle_and_slow_header_connections_are_closed(limited: Daemon) -> None:
    idle = _connect(limited)
    slow = _connect(limited)
    slow.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    with idle, slow:
        assert _closed_within(idle, 5) < 3
        assert _closed_within(slow, 5, trickle=b"a") < 3


def test_a_slow_body_is_a_408(limited: Daemon) -> None:
    headers = signed_headers(SECRET, b"{}")
    lines = ["POST /events HTTP/1.1", "Host: x", "Content-Length: 100"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with _connect(limited) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"tag": ')
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer


def test_connections_beyond_the_cap_get_a_clear_503(limited: Daemon) -> None:
    before = limited.client.sample("fluxora_http_connections_refused_total")
    held = [_connect(limited) for _ in range(LIMITS["max_connections"])]
    try:
        # Accepted in order: by the time the extra one is, the held ones are counted.
        with _connect(limited) as extra:
            answer = extra.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"too_many_connections" in answer
        assert b"Retry-After: 1" in answer
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: _accepts_events(limited), 10, "events accepted again")
    assert limited.client.sample("fluxora_http_connections_refused_total") >= before + 1


def _accepts_events(daemon: Daemon) -> bool:
    try:
        return daemon.client.post_event("fluxora/test/edge").status == 202
    except OSError:
        return False


def test_a_flood_of_bad_requests_logs_a_bounded_number_of_lines(limited: Daemon) -> None:
    for _ in range(300):
        with _connect(limited) as sock:
            sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nBad\x01Header: y\r\n\r\n")
            sock.recv(65536)
    log = (limited.config.parent / "orch.log").read_text()
    lines = [line for line in log.splitlines() if "malformed HTTP request refused" in line]
    assert 1 <= len(lines) <= 60, len(lines)
    assert _accepts_events(limited)


def test_at_a_low_file_handle_limit_the_cap_refuses_before_accept_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", http={"header_timeout_seconds": 30})
    log_path = tmp_path / "orch.log"
    server = start_orchestrator(
        tmp_path / "data", ["--config", str(config)], env=secret_env(), log_path=log_path,
        prefix=["prlimit", "--nofile=320:320"],
    )  # fmt: skip
    daemon = Daemon(server, OrchClient(server.url), config, tmp_path / "data")
    try:
        lowered = [json.loads(line) for line in log_path.read_text().splitlines()
                   if "http.max_connections lowered" in line]  # fmt: skip
        assert [(e["configured"], e["max_connections"]) for e in lowered] == [(512, 64)]
        held = [_connect(daemon) for _ in range(64)]
        try:
            answers = []
            for _ in range(200):  # past what the process could open
                with _connect(daemon) as extra:
                    answers.append(extra.recv(65536).split(b"\r\n", 1)[0])
            assert set(answers) == {b"HTTP/1.1 503 Service Unavailable"}
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: _accepts_events(daemon), 10, "events accepted again")
        refusals = [line for line in log_path.read_text().splitlines()
                    if "connection refused: limit reached" in line]  # fmt: skip
        assert 1 <= len(refusals) <= 50, len(refusals)
        assert "out of system resource" not in log_path.read_text()
    finally:
        assert daemon.stop() == 0
