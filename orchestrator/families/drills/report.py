"""A drill report (`fluxora-orch runbook report JOB_ID --out DIR`): Markdown with the outcome,
RTO/RPO against the targets and every step, plus a PNG timeline of the steps with the RTO
marked. Drawn from the job as the API shows it (`GET /api/jobs/ID`), so it works from the
daemon or its store alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# A bare Figure (no pyplot): rendered by the Agg backend, headless, with no global state.
from matplotlib.figure import Figure

COLOURS = {
    ("step", "ok"): "#3b8c3b",
    ("check", "ok"): "#4a78b5",
    ("rollback", "ok"): "#8a5ab5",
}
FAILED = "#c0392b"


@dataclass(frozen=True)
class Bar:
    label: str
    start: float
    seconds: float
    colour: str


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    timeline: Path


def _records(journal: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    records = [*journal.get("steps", ()), *journal.get("rollbacks", ())]
    return sorted(records, key=lambda r: r["started_at"])


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def bars(journal: Mapping[str, Any]) -> list[Bar]:
    origin = _time(journal["started_at"])
    found = []
    for record in _records(journal):
        start = (_time(record["started_at"]) - origin).total_seconds()
        seconds = (_time(record["ended_at"]) - _time(record["started_at"])).total_seconds()
        colour = COLOURS.get((record["phase"], record["status"]), FAILED)
        found.append(Bar(f"{record['phase']}: {record['name']}", start, seconds, colour))
    return found


def _first_step_offset(journal: Mapping[str, Any]) -> float:
    origin = _time(journal["started_at"])
    starts = [_time(s["started_at"]) for s in journal.get("steps", ()) if s["phase"] == "step"]
    return (min(starts) - origin).total_seconds() if starts else 0.0


MIN_BAR_FRACTION = 0.006  # of the axis: a step of milliseconds still shows as a bar


@dataclass(frozen=True)
class Marker:
    at: float
    label: str
    colour: str
    linestyle: str


def timeline_figure(journal: Mapping[str, Any]) -> Figure:
    """One bar per step, check and rollback, each labelled with its duration; a bar shorter
    than a few pixels is drawn at the minimum width (its label has the real duration)."""
    found, markers = bars(journal), rto_markers(journal)
    extent = max([b.start + b.seconds for b in found] + [m.at for m in markers] + [1e-3])
    figure = Figure(figsize=(10, 1.2 + 0.4 * max(len(found), 1)))
    axes = figure.subplots()
    for row, bar in enumerate(found):
        width = max(bar.seconds, extent * MIN_BAR_FRACTION)
        axes.barh(row, width, left=bar.start, color=bar.colour)
        axes.text(bar.start + width, row, f" {_duration(bar.seconds)}", va="center", fontsize=8)
    axes.set_yticks(range(len(found)), [b.label for b in found])
    axes.invert_yaxis()
    axes.set_xlim(0, extent * 1.12)  # room for the last bar's label
    axes.set_xlabel("seconds since the run started")
    for marker in markers:
        axes.axvline(marker.at, label=marker.label, color=marker.colour, linestyle=marker.linestyle)
    if markers:
        axes.legend(loc="lower right")
    axes.set_title(f"{journal['runbook']} in {journal['env']}: {journal['status']}")
    figure.tight_layout()
    return figure


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def draw_timeline(journal: Mapping[str, Any], path: Path) -> None:
    timeline_figure(journal).savefig(path, format="png", dpi=100)


def rto_markers(journal: Mapping[str, Any]) -> list[Marker]:
    """The measured RTO and its target, from the first step's start."""
    dr = journal.get("extensions", {}).get("dr") or {}
    offset = _first_step_offset(journal)
    markers = []
    rto = dr.get("rto_seconds")
    if rto is not None:
        markers.append(Marker(offset + rto, f"RTO {rto:.1f}s", "black", "--"))
    target = (dr.get("targets") or {}).get("rto_seconds")
    if target is not None:
        markers.append(Marker(offset + target, f"target {target:g}s", FAILED, ":"))
    return markers


def _fmt(value: Any, unit: str = "s") -> str:
    return (
        "-" if value is None else f"{value:.1f}{unit}" if isinstance(value, float) else str(value)
    )


def _step_rows(journal: Mapping[str, Any]) -> list[str]:
    rows = ["| phase | name | action | status | attempts | seconds | error |", "|" + " --- |" * 7]
    for record in _records(journal):
        seconds = (_time(record["ended_at"]) - _time(record["started_at"])).total_seconds()
        error = (record.get("error") or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| {record['phase']} | {record['name']} | `{record['action']}` | "
            f"{record['status']} | {record['attempts']} | {seconds:.2f} | {error} |"
        )
    return rows


def _targets(dr: Mapping[str, Any]) -> list[str]:
    if not dr or dr.get("dry_run"):
        return ["Dry run: nothing was measured."] if dr.get("dry_run") else ["Not measured."]
    targets = dr.get("targets") or {}
    verdicts = dr.get("verdicts") or {}
    rows = ["| | measured | target | verdict |", "| --- | --- | --- | --- |"]
    for key in ("rto", "rpo"):
        rows.append(
            f"| {key.upper()} | {_fmt(dr.get(f'{key}_seconds'))} | "
            f"{_fmt(targets.get(f'{key}_seconds'))} | {verdicts.get(key, '-')} |"
        )
    if dr.get("rpo_bytes") is not None:
        rows.append(f"| RPO (bytes) | {dr['rpo_bytes']} | | |")
    rows += ["", f"Policy: **{dr.get('policy')}** (measured from {dr.get('source')})."]
    return rows


def render_markdown(job: Mapping[str, Any], timeline: str) -> str:
    journal = job["journal"]
    dr = journal.get("extensions", {}).get("dr") or {}
    lines: Sequence[str] = [
        f"# Drill report: `{job['runbook']}` in {job['env']} (job {job['id']})",
        "",
        f"- **Status:** {journal['status']}" + (" (deviated)" if journal["deviated"] else ""),
        f"- **Started:** {journal['started_at']}; **ended:** {journal.get('ended_at') or '-'}",
        f"- **Dry run:** {'yes' if job.get('dry_run') else 'no'}",
        f"- **Error:** {journal.get('error') or 'none'}",
        "",
        "## RTO and RPO against the targets",
        "",
        *_targets(dr),
        "",
        "## Timeline",
        "",
        f"![timeline]({timeline})",
        "",
        "## Steps, checks and rollbacks",
        "",
        *_step_rows(journal),
    ]
    return "\n".join(lines) + "\n"


def write_report(job: Mapping[str, Any], out: Path) -> ReportFiles:
    """`job` as `GET /api/jobs/ID` shows it; the job must have a journal."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{job['runbook']}-{job['id']}"
    files = ReportFiles(out / f"{stem}.md", out / f"{stem}-timeline.png")
    draw_timeline(job["journal"], files.timeline)
    files.markdown.write_text(render_markdown(job, files.timeline.name), encoding="utf-8")
    return files
