"""The generated runbook pages: every committed page matches its runbook, and a change to a
runbook makes its page stale."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.app.families import builtin_registry
from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.engine.runbooks.docs import expected_pages, stale_pages, write_pages

RUNBOOKS = default_runbooks_dir()


def test_committed_pages_are_up_to_date() -> None:
    stale = stale_pages(RUNBOOKS / "docs", expected_pages(RUNBOOKS, builtin_registry()))
    assert stale == [], "run `fluxora-orch runbook docs --write` and commit dr_runbooks/docs/"


def test_a_changed_runbook_makes_its_page_stale_and_docs_rewrites_it(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "runbooks" / "drill.yaml"
    shutil.copy(fixture, tmp_path / "drill.yaml")
    registry = builtin_registry()
    assert write_pages(tmp_path / "docs", expected_pages(tmp_path, registry)) == ["drill.md"]
    page = (tmp_path / "docs" / "drill.md").read_text()
    assert "| 2 | hold | `wait` |" in page
    assert "| 1 | stop-file | `check.file` |" in page
    assert "## Invariants (checked with the stop conditions after an interrupted run's" in page
    assert "| 1 | writer-present | `check.file` |" in page
    assert "| dev | not required" in page
    text = (tmp_path / "drill.yaml").read_text().replace("{rto: 10m}", "{rto: 20m}")
    (tmp_path / "drill.yaml").write_text(text)
    assert stale_pages(tmp_path / "docs", expected_pages(tmp_path, registry)) == ["drill.md"]
    (tmp_path / "drill.yaml").unlink()
    (tmp_path / "docs" / "notes.md").write_text("hand-written")
    assert write_pages(tmp_path / "docs", expected_pages(tmp_path, registry)) == ["drill.md"]
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["notes.md"]
