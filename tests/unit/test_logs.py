from __future__ import annotations

import io
import json
import logging

import pytest

from orchestrator.core import logs
from orchestrator.core.logs import REDACTED, configure, get_logger


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure("info", out)
    return out


def test_log_lines_are_json_with_fields(stream: io.StringIO) -> None:
    get_logger("t").info("hello", job_id="j1", attempt=2)
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "hello"
    assert entry["level"] == "info"
    assert entry["logger"] == "t"
    assert (entry["job_id"], entry["attempt"]) == ("j1", 2)


def test_fields_named_like_secrets_are_redacted(stream: io.StringIO) -> None:
    get_logger("t").warning("auth", webhook_secret="s3cr3t", bearer_token="tok", user="ops")
    line = stream.getvalue()
    assert "s3cr3t" not in line
    assert 'tok"' not in line
    entry = json.loads(line)
    assert entry["webhook_secret"] == REDACTED
    assert entry["user"] == "ops"


def test_exception_carries_the_traceback(stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t").exception("failed", step="s1")
    entry = json.loads(stream.getvalue())
    assert "ValueError: boom" in entry["exc"]
    assert entry["step"] == "s1"


def test_level_filter_drops_debug(stream: io.StringIO) -> None:
    get_logger("t").debug("quiet")
    assert stream.getvalue() == ""


def test_a_repeated_warning_is_rate_limited_with_a_count() -> None:
    limit = logs.RateLimit(burst=3, interval=10)

    def record(at: float, msg: str = "connection refused", level: int = logging.WARNING) -> bool:
        entry = logging.makeLogRecord({"name": "x", "msg": msg, "levelno": level, "created": at})
        return bool(limit.filter(entry))

    def suppressed(at: float) -> int:
        entry = logging.makeLogRecord({"name": "x", "msg": "connection refused",
                                       "levelno": logging.WARNING, "created": at})  # fmt: skip
        assert limit.filter(entry)
        return int(entry.suppressed)

    assert [record(100 + n * 0.001) for n in range(1000)].count(True) == 3
    assert record(100.5, "another line") is True
    assert record(100.6, level=logging.INFO) is True  # info and debug are never dropped
    assert suppressed(110.1) == 997  # the next interval's first line says how many were dropped
