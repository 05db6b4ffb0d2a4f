"""Structured JSON logs on stderr: one object per line, with the fields a call passes.

Salt replaces the logging module's logger class when it is imported, and its class drops
`extra=`; `get_logger` returns a small wrapper that builds the record itself, so fields survive
in any process that imports salt. Fields whose name suggests a secret are never written.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_SECRET_WORDS = ("secret", "token", "password", "authorization", "signature", "key")
REDACTED = "[redacted]"


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: REDACTED if _secret(name) else value for name, value in fields.items()}


@functools.cache  # field names are the code's own keywords: a small, fixed set
def _secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(redact({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Logger:
    """`log.info("job finished", job_id=..., status=...)`: a message plus structured fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def debug(self, msg: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._emit(logging.INFO, msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._emit(logging.WARNING, msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._emit(logging.ERROR, msg, fields)

    def exception(self, msg: str, **fields: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._emit(logging.ERROR, msg, fields, with_traceback=True)

    def _emit(
        self, level: int, msg: str, fields: dict[str, Any], with_traceback: bool = False
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        exc_info = sys.exc_info() if with_traceback else None
        record = logging.LogRecord(self._logger.name, level, "", 0, msg, None, exc_info)
        record.__dict__.update({k: v for k, v in fields.items() if k not in _STANDARD_ATTRS})
        self._logger.handle(record)


class RateLimit(logging.Filter):
    """At most `burst` warnings (or worse) per (logger, message) in each `interval` seconds;
    the first one let through in the next interval carries `suppressed`, how many were
    dropped. An attacker (or a file-handle limit) can repeat one line thousands of times a
    second; the log shows it a few times a second at most, with the count."""

    def __init__(self, burst: int = 50, interval: float = 10.0, max_keys: int = 1000) -> None:
        super().__init__()
        self._burst, self._interval, self._max_keys = burst, interval, max_keys
        self._windows: dict[tuple[str, str], list[float]] = {}  # key -> [start, passed, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        window = self._windows.get(key)
        if window is None or record.created - window[0] >= self._interval:
            if len(self._windows) >= self._max_keys:
                self._windows.clear()
            dropped = window[2] if window else 0
            self._windows[key] = [record.created, 1, 0]
            if dropped:
                record.suppressed = int(dropped)
            return True
        if window[1] < self._burst:
            window[1] += 1
            return True
        window[2] += 1
        return False


def get_logger(name: str) -> Logger:
    return Logger(name)


def configure(level: str = "info", stream: TextIO = sys.stderr) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "botocore", "urllib3", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
