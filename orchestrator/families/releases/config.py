"""The `releases:` config section: where the releases are, the promotion order, the
maintenance windows of the environments that have them and their change freezes (written by the
fluxora.orchestrator state from pillar `fluxora:releases`)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path

from pydantic import AwareDatetime, Field, field_validator, model_validator

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


class Freeze(Section):
    """A change freeze: from `start` to `end` no deploy applies in its environment, windows or
    not (a year-end freeze, a launch). Times carry their zone."""

    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.end <= self.start:
            raise ValueError(f"freeze {self.reason!r}: end {self.end} is not after start")
        return self

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


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

    freezes: dict[str, list[Freeze]] = Field(default_factory=dict)
    """env -> change freezes; inside one no deploy applies there, whatever its windows."""

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

    def freeze_at(self, env: str, moment: datetime) -> Freeze | None:
        return next((f for f in self.freezes.get(env, []) if f.covers(moment)), None)

    def next_apply_time(self, env: str, now: datetime) -> datetime | None:
        """The first moment from `now` on that is inside a window and outside every freeze;
        None when no window opens within a week of the last freeze's end."""
        moment: datetime | None = now
        for _ in range(2 * len(self.freezes.get(env, [])) + 2):  # each freeze: its end, a window
            if moment is None:
                return None
            freeze = self.freeze_at(env, moment)
            if freeze is not None:
                moment = freeze.end
            elif self.window_open(env, moment):
                return moment
            else:
                moment = self.next_opening(env, moment)
        return None
