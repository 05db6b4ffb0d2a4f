"""Retries as a value object (how many attempts, how long to wait between them) and the one
loop that makes them: each backend says which of its errors are worth another attempt (S3's
throttling and dropped connections; a step's every failure), and every attempt is logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import Logger

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetrySettings:
    """`attempts` counts the first try (1 = no retry). The wait before attempt n+1 is
    `wait_seconds * backoff ** (n - 1)`, capped at `max_wait_seconds`."""

    attempts: int = 1
    wait_seconds: float = 0.0
    backoff: float = 1.0
    max_wait_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.wait_seconds < 0 or self.max_wait_seconds < 0:
            raise ValueError("waits must be >= 0")
        if self.backoff < 1:
            raise ValueError(f"backoff must be >= 1, got {self.backoff}")

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2, 3, ...); 0 before the first."""
        if attempt <= 1:
            return 0.0
        return float(min(self.wait_seconds * self.backoff ** (attempt - 2), self.max_wait_seconds))


NO_RETRY = RetrySettings()


class RetriesExhaustedError(FluxoraError):
    """The last transient error after every attempt failed."""

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
            delay = 0.0 if last_attempt else settings.wait_before(attempt + 1)
            log.warning(
                "call failed",
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
                log.info("call succeeded", operation=what, attempt=attempt)
            return result
    raise AssertionError("unreachable: attempts must be >= 1")
