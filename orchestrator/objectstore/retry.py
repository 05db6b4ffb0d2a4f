"""Bounded retries with exponential backoff; every attempt is logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.core.logs import Logger

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetrySettings:
    attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))


class RetriesExhaustedError(Exception):
    """Internal: the last transient error after every attempt failed."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        self.last = last
        super().__init__(f"{what} failed after {attempts} attempts: {last}")


def call_with_retries(
    func: Callable[[], T],
    *,
    what: str,
    settings: RetrySettings,
    is_transient: Callable[[BaseException], bool],
    log: Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `func` until it succeeds, a non-transient error is raised (re-raised as is) or
    `settings.attempts` transient failures happened (RetriesExhaustedError)."""
    for attempt in range(1, settings.attempts + 1):
        try:
            result = func()
        except Exception as exc:
            if not is_transient(exc):
                raise
            last_attempt = attempt == settings.attempts
            delay = 0.0 if last_attempt else settings.delay(attempt)
            log.warning(
                "object store call failed",
                operation=what,
                attempt=attempt,
                attempts=settings.attempts,
                error=str(exc),
                retry_in_seconds=None if last_attempt else delay,
            )
            if last_attempt:
                raise RetriesExhaustedError(what, attempt, exc) from exc
            sleep(delay)
        else:
            if attempt > 1:
                log.info("object store call succeeded", operation=what, attempt=attempt)
            return result
    raise AssertionError("unreachable: attempts must be >= 1")
