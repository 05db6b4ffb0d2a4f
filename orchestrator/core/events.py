"""Events: what every source turns its input into before it enters the inbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from orchestrator.core.errors import FluxoraError

# Salt's slash convention: segments of printable characters, no whitespace, no empty segment.
_TAG = re.compile(r"^[^\s/]+(/[^\s/]+)*$")
MAX_TAG_LENGTH = 512
MAX_ID_LENGTH = 128


class EventSource(StrEnum):
    """Where an event came from (the `source` label of `fluxora_events_received_total`)."""

    SALT = "salt"
    WEBHOOK = "webhook"
    ALERTMANAGER = "alertmanager"
    SCHEDULE = "schedule"


class InvalidEventError(FluxoraError, ValueError):
    """An event field that cannot be accepted; the message names the field."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


def new_event_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def validate_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag:
        raise InvalidEventError("tag", "must be a non-empty string")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidEventError("tag", f"longer than {MAX_TAG_LENGTH} characters")
    if not _TAG.match(tag):
        raise InvalidEventError("tag", "must be slash-separated segments without whitespace")
    if not tag.isprintable():  # control characters, lone surrogates, unassigned code points
        raise InvalidEventError("tag", "must be printable characters only")
    return tag


def validate_event_id(event_id: object) -> str:
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEventError("id", "must be a non-empty string")
    if len(event_id) > MAX_ID_LENGTH or not event_id.isprintable() or " " in event_id:
        raise InvalidEventError("id", f"must be printable, without spaces, <= {MAX_ID_LENGTH}")
    return event_id


@dataclass(frozen=True, kw_only=True)
class Event:
    """One input to the rules. `id` is the dedup key of the inbox: an id seen before is
    acknowledged and not processed again."""

    tag: str
    source: EventSource
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
    received_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        validate_tag(self.tag)
        validate_event_id(self.id)
        if not isinstance(self.data, Mapping):
            raise InvalidEventError("data", "must be a JSON object")
        if self.received_at.tzinfo is None:
            raise InvalidEventError("received_at", "must be timezone-aware")


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """An event as the store keeps it: with when the rules decided it (None: not yet)."""

    event: Event
    processed_at: datetime | None
