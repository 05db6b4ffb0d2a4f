"""The Salt runner (`salt-run fluxora.runbook`) runs on the master without the orchestrator
installed, so it keeps its own copy of what the orchestrator defines; these tests hold the
copies to the originals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from orchestrator.core.jobs import JobStatus

RUNNER = Path(__file__).resolve().parents[2] / "salt" / "_runners" / "fluxora.py"


def test_the_runner_stops_following_a_job_on_exactly_the_finished_statuses() -> None:
    spec = importlib.util.spec_from_file_location("fluxora_runner", RUNNER)
    assert spec is not None
    assert spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert {status.value for status in JobStatus if status.finished} == runner.FINISHED
