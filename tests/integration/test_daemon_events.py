"""Events into the real daemon over HTTP and the real Salt bus: decisions, jobs, dedup, cooldown,
locks, approval, Alertmanager's documented payload, and every bad input refused and counted."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from orchestrator.engine.sources.signing import SIGNATURE_HEADER, signed_headers
from tests.harness.fluxora import SECRET, TOKEN, Daemon, OrchClient, cli, start_daemon
from tests.harness.processes import wait_until
from tests.harness.salt_bus import fire_on_master

pytestmark = pytest.mark.integration

# The example from the Alertmanager docs (webhook_config), with values filled in.
ALERTMANAGER_DOC_PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="PostgresDown"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "fluxora-orchestrator",
    "groupLabels": {"alertname": "PostgresDown"},
    "commonLabels": {"alertname": "PostgresDown", "env": "dev"},
    "commonAnnotations": {"summary": "PostgreSQL is down"},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "PostgresDown", "env": "dev", "severity": "critical"},
            "annotations": {"summary": "PostgreSQL is down"},
            "startsAt": "2024-05-01T02:30:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=pg_up+%3D%3D+0",
            "fingerprint": "c3a1f0e2d4b5a697",
        },
        {
            "status": "firing",
            "labels": {"alertname": "PostgresDown", "env": "dev", "severity": "warning"},
            "annotations": {"summary": "PostgreSQL replica lags"},
            "startsAt": "2024-05-01T02:30:05.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": "d4b2a1c3e5f60718",
        },
    ],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def decisions_by_rule(explained: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["rule"]: d for d in explained["decisions"]}


def test_event_runs_the_rules_runbook_and_explain_says_why(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    answer = client.post_event("fluxora/test/noop", {"n": 1})
    assert answer.status == 202
    assert answer.body["status"] == "accepted"
    event_id = answer.body["id"]
    job_id = client.fired_job(event_id, "noop-on-request")
    job = client.finished_job(job_id)
    assert job["status"] == "completed"
    assert job["params"] == {"source": "webhook"}
    assert job["journal"]["steps"][0]["name"] == "nothing"
    assert job["journal"]["steps"][0]["status"] == "ok"
    decisions = decisions_by_rule(client.explain(event_id))
    assert decisions["noop-on-request"]["decision"] == "fired"
    assert decisions["cooldown"]["decision"] == "no-match"
    assert "does not match 'fluxora/test/cooldown'" in decisions["cooldown"]["reason"]


def test_events_are_decided_when_acknowledged_even_while_a_job_runs(tmp_path: Path) -> None:
    # Deciding is part of the intake's commit: each 202 of a burst comes after the event's
    # decisions are stored (no polling), and a running job holds no decision back.
    daemon = start_daemon(tmp_path, shutdown_grace_seconds=1)
    client = daemon.client
    try:
        slow_event = client.post_event("fluxora/test/slow", {"seconds": 600}).body["id"]
        slow = decisions_by_rule(client.explain(slow_event))["slow"]
        assert slow["decision"] == "fired", slow
        wait_until(lambda: client.job(slow["job_id"])["status"] == "running", 20, "slow job")

        def send(n: int) -> dict[str, Any]:
            answer = client.post_event("fluxora/test/noop", {"n": n})
            assert answer.status == 202, answer.body
            return decisions_by_rule(client.explain(answer.body["id"]))

        with ThreadPoolExecutor(16) as pool:
            burst = list(pool.map(send, range(200)))
        assert {d["noop-on-request"]["decision"] for d in burst} == {"fired"}
        assert client.finished_job(burst[-1]["noop-on-request"]["job_id"])["status"] == "completed"
        assert client.job(slow["job_id"])["status"] == "running"
    finally:
        daemon.stop()


def _via_http(daemon: Daemon, tag: str, event_id: str) -> None:
    # Each send is signed anew (a sender's retry): a unique timestamp, so never a replay.
    stamp = int(time.time()) + next(_stamps)
    assert daemon.client.post_event(tag, {}, event_id, timestamp=stamp).status == 202


_stamps = itertools.count()


def _via_salt(salt_master: Any) -> Callable[[Daemon, str, str], None]:
    def send(daemon: Daemon, tag: str, event_id: str) -> None:
        fire_on_master(salt_master, tag, {"event_id": event_id})

    return send


@pytest.fixture(params=["http", "salt"])
def send(request: pytest.FixtureRequest, salt_master: Any) -> Callable[[Daemon, str, str], None]:
    return _via_http if request.param == "http" else _via_salt(salt_master)


def jobs_of(client: OrchClient, rule: str, since: str) -> list[dict[str, Any]]:
    return [
        j
        for j in client.get("/api/jobs?limit=200")
        if j["rule"] == rule and j["created_at"] > since
    ]


def test_same_event_id_twice_runs_one_job(
    orch_daemon: Daemon, send: Callable[[Daemon, str, str], None]
) -> None:
    client, event_id = orch_daemon.client, unique("same")
    send(orch_daemon, "fluxora/test/noop-twice", event_id)
    send(orch_daemon, "fluxora/test/noop-twice", event_id)
    job_id = client.fired_job(event_id, "noop-on-request")
    client.finished_job(job_id)
    mine = [j for j in client.get("/api/jobs?limit=200") if j["event_id"] == event_id]
    assert [j["id"] for j in mine] == [job_id]
    rules = [d["rule"] for d in client.explain(event_id)["decisions"]]
    assert len(rules) == len(set(rules))  # each rule decided once, not twice


def test_two_events_inside_a_cooldown_run_one_job(
    orch_daemon: Daemon, send: Callable[[Daemon, str, str], None]
) -> None:
    client = orch_daemon.client
    first, second = unique("cool-1"), unique("cool-2")
    send(orch_daemon, "fluxora/test/cooldown", first)
    first_decision = decisions_by_rule(client.decided(first))["cooldown"]
    send(orch_daemon, "fluxora/test/cooldown", second)
    second_decision = decisions_by_rule(client.decided(second))["cooldown"]
    # The rule's cooldown is 1h and the module shares one daemon: the first event fired
    # (when it was the module's first) or was suppressed by an earlier one; the second one
    # is always suppressed, naming the job that started the cooldown.
    assert second_decision["decision"] == "suppressed:cooldown"
    assert second_decision["job_id"] is None
    assert "inside its 3600s cooldown" in second_decision["reason"]
    if first_decision["decision"] == "fired":
        assert first_decision["job_id"] in second_decision["reason"]


def test_a_held_lock_blocks_a_second_job(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    first = client.post_event("fluxora/test/slow", {"seconds": 30}).body["id"]
    holder = client.fired_job(first, "slow")
    second = client.post_event("fluxora/test/slow", {"seconds": 30}).body["id"]
    decision = decisions_by_rule(client.decided(second))["slow"]
    assert decision["decision"] == "blocked:lock"
    assert f"lock 'slow' is held by job {holder}" in decision["reason"]


def test_alertmanager_doc_payload_is_accepted_as_is(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    answer = client.post_alerts(ALERTMANAGER_DOC_PAYLOAD)
    assert answer.status == 202, answer.body
    critical, warning = answer.body["ids"]
    explained = client.decided(critical)
    assert explained["tag"] == "fluxora/alert/PostgresDown/firing"
    assert explained["source"] == "alertmanager"
    assert explained["data"]["fingerprint"] == "c3a1f0e2d4b5a697"
    assert explained["data"]["labels"]["severity"] == "critical"
    assert explained["data"]["annotations"] == {"summary": "PostgreSQL is down"}
    alert_rule = decisions_by_rule(explained)["alert"]
    assert alert_rule["decision"] in ("fired", "suppressed:dedup")
    other = decisions_by_rule(client.decided(warning))["alert"]
    assert other["decision"] == "no-match"
    assert "when is false" in other["reason"]


def test_resent_alert_is_suppressed_by_the_dedup_window(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    payload = json.loads(json.dumps(ALERTMANAGER_DOC_PAYLOAD))
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["fingerprint"] = unique("fp")
    first = client.post_alerts(payload).body["ids"][0]
    assert client.post_alerts(payload).body["ids"][0] == first  # a retry: the same event
    payload["alerts"][0]["annotations"]["summary"] = "said again, with other words"
    second = client.post_alerts(payload).body["ids"][0]
    assert decisions_by_rule(client.decided(first))["alert"]["decision"] == "fired"
    again = decisions_by_rule(client.decided(second))["alert"]
    assert again["decision"] == "suppressed:dedup"
    assert "same dedup key" in again["reason"]


def test_unknown_tag_is_accepted_and_recorded_as_no_match(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    answer = client.post_event("fluxora/nobody/listens", {})
    assert answer.status == 202
    decisions = client.decided(answer.body["id"])["decisions"]
    assert {d["decision"] for d in decisions} == {"no-match"}
    assert all(d["job_id"] is None for d in decisions)


def _signed(body: bytes, **changes: str) -> dict[str, str]:
    return {**signed_headers(SECRET, body), **changes}


class Bad(NamedTuple):
    case: str
    body: bytes
    headers: Callable[[bytes], dict[str, str]]
    status: int
    reason: str  # the `reason` label of fluxora_events_rejected_total
    message: str


BAD_EVENTS = [Bad(*case) for case in [
    ("malformed-json", b'{"tag": ', _signed, 400, "malformed_json",
     "malformed JSON: Expecting value: line 1 column 9 (char 8)"),
    ("missing-tag", b'{"data": {}}', _signed, 400, "missing_tag", "missing field 'tag'"),
    ("unknown-field", b'{"tag": "a/b", "colour": 1}', _signed, 400, "invalid_payload",
     "unknown field 'colour' (allowed: data, id, tag)"),
    ("data-not-object", b'{"tag": "a/b", "data": [1]}', _signed, 400, "invalid_data",
     "field data: must be a JSON object"),
    ("missing-signature", b'{"tag": "a/b"}', lambda b: {"Content-Type": "application/json"},
     401, "missing_signature", "missing X-Fluxora-Timestamp or X-Fluxora-Signature header"),
    ("short-signature", b'{"tag": "a/b"}', lambda b: _signed(b, **{SIGNATURE_HEADER: "sha256=00"}),
     401, "malformed_signature", "X-Fluxora-Timestamp must be 1-12 ASCII digits and "
     "X-Fluxora-Signature 'sha256=' and 64 lowercase hex digits"),
    ("bad-signature", b'{"tag": "a/b"}',
     lambda b: _signed(b, **{SIGNATURE_HEADER: "sha256=" + "0" * 64}), 401, "bad_signature",
     "signature does not match (HMAC-SHA256 over timestamp, method, path and body)"),
    ("wrong-secret", b'{"tag": "a/b"}', lambda b: signed_headers("not-the-secret", b),
     401, "bad_signature",
     "signature does not match (HMAC-SHA256 over timestamp, method, path and body)"),
    ("stale-timestamp", b'{"tag": "a/b"}',
     lambda b: signed_headers(SECRET, b, timestamp=int(time.time()) - 301),
     401, "stale_timestamp", "timestamp outside the replay window"),
    ("future-timestamp", b'{"tag": "a/b"}',
     lambda b: signed_headers(SECRET, b, timestamp=int(time.time()) + 400),
     401, "stale_timestamp", "timestamp outside the replay window"),
    ("too-large", json.dumps({"tag": "a/b", "data": {"x": "y" * 1_100_000}}).encode(), _signed,
     413, "too_large", "body is larger than the 1048576-byte limit"),
]]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_EVENTS, ids=[bad.case for bad in BAD_EVENTS])
def test_bad_event_is_refused_with_its_reason_and_counted(orch_daemon: Daemon, bad: Bad) -> None:
    client, reason = orch_daemon.client, bad.reason
    before = client.sample("fluxora_events_rejected_total", source="webhook", reason=reason)
    answer = client.post("/events", bad.body, bad.headers(bad.body))
    assert (answer.status, answer.body) == (bad.status, {"error": bad.message, "reason": reason})
    after = client.sample("fluxora_events_rejected_total", source="webhook", reason=reason)
    assert after == before + 1
    assert client.get("/healthz") == {"status": "ok"}
    assert client.post_event("fluxora/test/after-bad-input").status == 202


def test_replayed_signature_is_refused(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    body = json.dumps({"tag": "fluxora/test/replay", "id": unique("replay")}).encode()
    headers = signed_headers(SECRET, body)
    assert client.post("/events", body, headers).status == 202
    before = client.sample(
        "fluxora_events_rejected_total", source="webhook", reason="replayed_signature"
    )
    again = client.post("/events", body, headers)
    assert again.status == 401
    assert again.body == {
        "error": "signature already used (replayed request)",
        "reason": "replayed_signature",
    }
    after = client.sample(
        "fluxora_events_rejected_total", source="webhook", reason="replayed_signature"
    )
    assert after == before + 1


class BadAlerts(NamedTuple):
    payload: dict[str, Any]
    token: str
    status: int
    reason: str
    message: str


BAD_ALERTS = {
    "wrong-token": BadAlerts(ALERTMANAGER_DOC_PAYLOAD, "wrong", 401, "bad_token",
                             "missing or wrong bearer token"),
    "old-version": BadAlerts({**ALERTMANAGER_DOC_PAYLOAD, "version": "3"}, TOKEN, 400,
                             "invalid_payload", "version: Input should be '4'"),
    "no-alertname": BadAlerts({**ALERTMANAGER_DOC_PAYLOAD,
                               "alerts": [{"status": "firing", "labels": {}}]}, TOKEN, 400,
                              "invalid_payload", "alerts.0.labels: no alertname"),
}  # fmt: skip


@pytest.mark.parametrize("bad", BAD_ALERTS.values(), ids=BAD_ALERTS.keys())
def test_bad_alertmanager_request_is_refused_and_counted(
    orch_daemon: Daemon, bad: BadAlerts
) -> None:
    client, reason = orch_daemon.client, bad.reason
    before = client.sample("fluxora_events_rejected_total", source="alertmanager", reason=reason)
    answer = client.post_alerts(bad.payload, bad.token)
    assert (answer.status, answer.body) == (bad.status, {"error": bad.message, "reason": reason})
    after = client.sample("fluxora_events_rejected_total", source="alertmanager", reason=reason)
    assert after == before + 1


def test_gated_job_waits_for_approval_then_runs(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    event_id = client.post_event("fluxora/test/gated", {"who": "ops"}).body["id"]
    decision = decisions_by_rule(client.decided(event_id))["gated"]
    assert decision["decision"] == "awaiting-approval"
    job_id = decision["job_id"]
    assert f"fluxora-orch approve {job_id}" in decision["reason"]
    assert client.job(job_id)["status"] == "awaiting-approval"
    result = cli(
        "approve", job_id, "--by", "alice", "--comment", "drill window", *orch_daemon.settings()
    )
    assert result.returncode == 0, result.stderr
    assert f"job {job_id} approved by alice" in result.stdout
    job = client.finished_job(job_id)
    assert job["status"] == "completed"
    assert job["approval"]["by"] == "alice"
    assert job["params"] == {"who": "ops"}
    again = cli("approve", job_id, *orch_daemon.settings())
    assert again.returncode == 1
    assert f"fluxora-orch: error: job {job_id} is completed, cannot approve" in again.stderr


def test_rejected_job_never_runs(orch_daemon: Daemon) -> None:
    client = orch_daemon.client
    event_id = client.post_event("fluxora/test/gated").body["id"]
    job_id = decisions_by_rule(client.decided(event_id))["gated"]["job_id"]
    result = cli("reject", job_id, "--by", "bob", "--json", *orch_daemon.settings())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "rejected"
    job = client.job(job_id)
    assert job["status"] == "rejected"
    assert job["journal"] is None
    assert job["approval"]["approved"] is False


def test_approving_an_unknown_job_fails_clearly(orch_daemon: Daemon) -> None:
    result = cli("approve", "nosuchjob", *orch_daemon.settings())
    assert result.returncode == 1
    assert result.stderr.strip() == "fluxora-orch: error: no job 'nosuchjob'"
