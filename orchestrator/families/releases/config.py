"""The `releases:` config section: where the releases are, the promotion order, and the
maintenance windows of the environments that have them (written by the fluxora.orchestrator
state from pillar `fluxora:releases`)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path

from pydantic import Field, field_validator

from orchestrator.core.config import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW = re.compile(r"^(?:(?P<day>[a-z]{3}) )?(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)$")


def parse_window(text: str) -> tuple[int | None, time, time]:
    """`[DAY ]HH:MM-HH:MM` (UTC; DAY mon..sun, none: every day; may wrap midnight) ->
    (weekday or None, start, end)."""
    found = WINDOW.match(text.strip().lower())
    if found is None or (found["day"] and found["day"] not in DAYS):
        raise ValueError(f"window {text!r}: expected [mon..sun ]HH:MM-HH:MM (UTC)")
    try:
        start, end = time.fromisoformat(found["start"]), time.fromisoformat(found["end"])
    except ValueError as exc:
        raise ValueError(f"window {text!r}: {exc}") from None
    return (DAYS.index(found["day"]) if found["day"] else None), start, end


def _openings(text: str, now: datetime) -> list[tuple[datetime, datetime]]:
    """The window's (start, end) times that begin from a day before `now` to a week after."""
    day, start, end = parse_window(text)
    found = []
    for offset in range(-1, 8):
        date = (now + timedelta(days=offset)).date()
        if day is None or date.weekday() == day:
            opens = datetime.combine(date, start, now.tzinfo)
            closes = datetime.combine(date, end, now.tzinfo)
            found.append((opens, closes if closes > opens else closes + timedelta(days=1)))
    return found


class ReleasesConfig(Section):
    root: Path | None = None
    """The releases root (release build --root); None: this daemon deploys nothing."""
    order: list[str] = Field(default_factory=lambda: ["dev", "staging", "prod"])
    """A release reaches an environment after it deployed and verified in the one before."""
    approve_plan_in: list[str] = Field(default_factory=lambda: ["prod"])
    """Where a deploy applies only the plan a person approved (its digest)."""
    windows: dict[str, list[str]] = Field(default_factory=dict)
    """env -> maintenance windows (`sat 02:00-04:00`, UTC); an env not named here has no
    window (applies any time)."""

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for texts in value.values():
            for text in texts:
                parse_window(text)
        return value

    def window_open(self, env: str, now: datetime) -> bool:
        if env not in self.windows:
            return True
        return any(
            opens <= now < closes
            for text in self.windows[env]
            for opens, closes in _openings(text, now)
        )

    def next_opening(self, env: str, now: datetime) -> datetime | None:
        starts = [
            opens for text in self.windows.get(env, []) for opens, _ in _openings(text, now)
            if opens > now
        ]  # fmt: skip
        return min(starts, default=None)
