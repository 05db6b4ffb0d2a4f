"""The inbox contract: what a source offers (`Submission`), what the inbox answers
(`Admission`), and the inbox as every source sees it (`Intake`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from orchestrator.core.events import Event, EventSource


class Admission(StrEnum):
    """What the inbox did with a submitted event."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # an event with this id was committed before: acknowledged only
    REPLAYED = "replayed"  # the signature was used before inside the replay window
    CONFLICT = "conflict"  # an event with this id but another tag, data or source exists


@dataclass(frozen=True, kw_only=True)
class Signature:
    """A signed request's signature and the time it was signed for: it is remembered while
    that timestamp is inside the replay window (`signed_at` + window), so it is refused again
    for as long as it could be accepted."""

    value: str
    signed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Submission:
    """An event offered to the inbox, with the webhook signature that carried it (if any):
    the signature is recorded in the same transaction, so a replay is refused even after a
    restart or by another daemon."""

    event: Event
    signature: Signature | None = None


class Intake(Protocol):
    """The inbox as the sources see it."""

    accepting: bool

    async def submit(self, submission: Submission) -> Admission: ...

    def reject(self, source: EventSource, reason: str) -> None: ...
