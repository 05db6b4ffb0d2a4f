"""Retries as a value object: how many attempts, and how long to wait between them."""

from __future__ import annotations

from dataclasses import dataclass


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
