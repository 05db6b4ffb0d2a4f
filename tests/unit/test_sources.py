"""Signatures, payload parsing, schedules and the small value types the sources rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from orchestrator.core.durations import parse_duration
from orchestrator.core.events import Event, EventSource, InvalidEventError
from orchestrator.core.retry import RetrySettings
from orchestrator.engine.sources.alertmanager import alert_events, parse_notification
from orchestrator.engine.sources.http_common import Refusal
from orchestrator.engine.sources.salt import tag_selected, to_event
from orchestrator.engine.sources.schedules import ScheduleError, missed_between, parse_schedules
from orchestrator.engine.sources.webhook import parse_event


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (b"{", "malformed_json", "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),  # noqa: E501
        (b"[1]", "invalid_payload", "body must be a JSON object"),
        (b'{"data": {}}', "missing_tag", "missing field 'tag'"),
        (b'{"tag": "a b"}', "invalid_tag", "field tag: must be slash-separated segments without whitespace"),  # noqa: E501
        (b'{"tag": "a/b", "id": 5}', "invalid_id", "field id: must be a non-empty string"),
        (b'{"tag": "a/\\u0001"}', "invalid_tag", "field tag: must be printable characters only"),
        (b'{"tag": "a/\\ud800"}', "invalid_string", "body.tag: lone surrogate at character 2"),
        (b'{"tag": "a/b", "id": "x\\udc00"}', "invalid_string", "body.id: lone surrogate at character 1"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"\\ud800": 1}}', "invalid_string", "body.data (a key): lone surrogate at character 0"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": NaN}}', "non_standard_json", "body: NaN is not a JSON value"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": -Infinity}}', "non_standard_json", "body: -Infinity is not a JSON value"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": 1e400}}', "number_out_of_range", "body: number 1e400 is too large for a float"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": 9223372036854775808}}', "number_out_of_range", "body: integer 9223372036854775808... is outside 64 bits"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": ' + b"9" * 4301 + b'}}', "number_out_of_range", "body: integer 999999999999999999999999... is outside 64 bits"),  # noqa: E501
        (b'\xef\xbb\xbf{"tag": "a/b"}', "byte_order_mark", "body starts with a byte order mark"),
        (b'{"tag": "\xff"}', "not_utf8", "body is not UTF-8 (byte 9)"),
        (b'{"tag": "a/b", "data": ' + b"[" * 990 + b"]" * 990 + b"}", "too_deep", "body: nested deeper than 32"),  # noqa: E501
        (b'{"tag": "a/b", "data": {"x": ' + b"[" * 40 + b"]" * 40 + b"}}", "too_deep", "body.data.x[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested deeper than 32"),  # noqa: E501
    ],
)  # fmt: skip
def test_webhook_body_errors(body: bytes, reason: str, message: str) -> None:
    with pytest.raises(Refusal) as refusal:
        parse_event(body)
    assert (refusal.value.status, refusal.value.reason, refusal.value.message) == (
        400, reason, message)  # fmt: skip


def test_webhook_body_becomes_an_event() -> None:
    event = parse_event(b'{"tag": "fluxora/request/runbook/x", "data": {"a": 1}, "id": "r-1"}')
    assert (event.tag, event.id, dict(event.data)) == ("fluxora/request/runbook/x", "r-1", {"a": 1})
    assert event.source is EventSource.WEBHOOK


def test_each_alert_becomes_one_event() -> None:
    payload = {"version": "4", "status": "resolved", "receiver": "r", "groupKey": "g",
               "alerts": [{"status": "resolved", "labels": {"alertname": "DiskFull", "host": "db1"},
                           "fingerprint": "f1", "futureField": 1}],
               "someNewTopLevelField": True}  # fmt: skip
    (event,) = alert_events(parse_notification(json.dumps(payload).encode()))
    assert event.tag == "fluxora/alert/DiskFull/resolved"
    assert event.data["labels"] == {"alertname": "DiskFull", "host": "db1"}
    assert event.data["fingerprint"] == "f1"
    assert event.data["groupKey"] == "g"


def test_salt_tags_are_selected_by_include_and_exclude_globs() -> None:
    assert tag_selected("fluxora/request/x", ["fluxora/*"], ["fluxora/job/*"])
    assert not tag_selected("fluxora/job/1/completed", ["fluxora/*"], ["fluxora/job/*"])
    assert not tag_selected("salt/auth", ["fluxora/*"], [])
    event = to_event("fluxora/x", {"event_id": "abc", "raw": b"bytes", "_stamp": "t"})
    assert event.id == "abc"
    assert event.data["raw"] == "b'bytes'"
    assert to_event("fluxora/x", {"n": 1}).id != to_event("fluxora/x", {"n": 1}).id
    with pytest.raises(InvalidEventError, match="data: NaN or Infinity is not a JSON value"):
        to_event("fluxora/x", {"load": float("nan")})


def test_missed_runs_between_two_fires() -> None:
    (spec,) = parse_schedules([{"name": "m", "cron": "*/10 * * * *"}], "c.yaml")
    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    end = datetime(2024, 5, 1, 2, 40, tzinfo=UTC)
    missed = missed_between(spec.trigger(), start, end)
    assert [m.minute for m in missed] == [10, 20, 30]
    assert spec.interval_seconds(start) == 600


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "x"}, "schedule 'x': (schedule): give exactly one of cron or interval"),
        ({"name": "x", "cron": "61 * * * *"}, "schedule 'x': (schedule): Error validating expression '61': the last value (61) is higher than the maximum value (59)"),  # noqa: E501
        ({"name": "x", "interval": "often"}, "schedule 'x': interval: not a duration: 'often' (use seconds or e.g. 90s, 5m, 1h30m)"),  # noqa: E501
        ({"name": "x", "interval": 5, "every": 1}, "schedule 'x': every: unknown key"),
    ],
)  # fmt: skip
def test_invalid_schedules_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError) as error:
        parse_schedules([raw], "c.yaml")
    assert str(error.value) == f"c.yaml: {message}"


def test_values_are_validated_at_the_edge() -> None:
    with pytest.raises(InvalidEventError, match="tag: must be a non-empty string"):
        Event(tag="", source=EventSource.WEBHOOK)
    with pytest.raises(InvalidEventError, match="received_at: must be timezone-aware"):
        Event(tag="a", source=EventSource.WEBHOOK, received_at=datetime(2024, 1, 1))
    assert parse_duration("1h30m") == 5400
    assert parse_duration(2.5) == 2.5
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 parsecs")
    settings = RetrySettings(attempts=4, wait_seconds=1, backoff=2, max_wait_seconds=3)
    assert [settings.wait_before(n) for n in (1, 2, 3, 4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        RetrySettings(attempts=0)


class FakeBus:
    def __init__(self, count: int) -> None:
        self.events = [{"tag": "fluxora/x", "data": {"event_id": f"e{n}"}} for n in range(count)]

    def get_event_noblock(self) -> dict[str, object] | None:
        return self.events.pop(0) if self.events else None


def test_salt_listener_batches_keep_every_event_across_the_batch_limit() -> None:
    from orchestrator.engine.sources import salt

    listener = salt.SaltListener({}, ["fluxora/*"], [], submit=None, reject=None)  # type: ignore[arg-type]
    bus = FakeBus(salt.MAX_BATCH * 2 + 5)
    seen: list[str] = []
    while bus.events:
        batch = listener._drain(bus, bus.get_event_noblock())
        assert len(batch) <= salt.MAX_BATCH
        seen.extend(s.event.id for s in batch)
    assert seen == [f"e{n}" for n in range(salt.MAX_BATCH * 2 + 5)]


def test_salt_listener_blocks_again_after_an_event_it_does_not_take() -> None:
    from orchestrator.engine.sources import salt

    listener = salt.SaltListener({}, ["fluxora/*"], [], submit=None, reject=None)  # type: ignore[arg-type]
    bus = FakeBus(3)
    assert listener._drain(bus, {"tag": "salt/job/1/ret", "data": None}) == []
    assert len(bus.events) == 3  # not polled: the next blocking read takes them, in order
    first = bus.get_event_noblock()
    assert [s.event.id for s in listener._drain(bus, first)] == ["e0", "e1", "e2"]
