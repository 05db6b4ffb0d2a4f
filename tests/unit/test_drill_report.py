"""The drill report's timeline: every step visible, whatever its length."""

from __future__ import annotations

from typing import Any

from orchestrator.families.drills.report import MIN_BAR_FRACTION, timeline_figure


def record(phase: str, name: str, start: str, end: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "name": name,
        "status": "ok",
        "started_at": f"2026-12-07T02:{start}+00:00",
        "ended_at": f"2026-12-07T02:{end}+00:00",
    }


JOURNAL: dict[str, Any] = {
    "runbook": "restore-drill",
    "env": "dev",
    "status": "completed",
    "started_at": "2026-12-07T02:00:00+00:00",
    "steps": [
        record("check", "not-halted", "00:00.000", "00:00.020"),
        record("step", "restore", "00:00.020", "10:00.000"),
        record("check", "rows-match", "10:00.000", "10:00.015"),
    ],
    "rollbacks": [],
    "extensions": {"dr": {"rto_seconds": 600.0, "targets": {"rto_seconds": 900}}},
}


def test_a_step_of_milliseconds_is_drawn_as_a_visible_bar_with_its_duration() -> None:
    axes = timeline_figure(JOURNAL).axes[0]
    widths = [patch.get_width() for patch in axes.patches]
    extent = 900.0  # the RTO target is the right-most thing drawn
    assert len(widths) == 3
    assert min(widths) >= extent * MIN_BAR_FRACTION  # was 0.02 s: invisible next to 600 s
    labels = [text.get_text().strip() for text in axes.texts]
    assert labels == ["20ms", "600.0s", "15ms"]
    assert axes.get_xlim()[1] > extent
