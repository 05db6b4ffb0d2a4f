"""The Salt runner (`salt-run fluxora.runbook`) runs on the master without the orchestrator
installed, so it keeps its own copy of what the orchestrator defines; these tests hold the
copies to the originals."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from orchestrator.core.jobs import JobStatus
from orchestrator.engine.sources import signing

RUNNER = Path(__file__).resolve().parents[2] / "salt" / "_runners" / "fluxora.py"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fluxora_runner", RUNNER)
    assert spec is not None
    assert spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner


def test_the_runner_stops_following_a_job_on_exactly_the_finished_statuses() -> None:
    runner = load_runner()
    assert {status.value for status in JobStatus if status.finished} == runner.FINISHED


def test_the_runner_signs_exactly_as_the_daemon_verifies() -> None:
    runner = load_runner()
    body = b'{"tag": "fluxora/request/runbook/x", "id": "r1"}'
    headers = runner._signed_headers(b"s3cret", "http://orch.example:8470/events", body)
    signature = signing.verify(
        "s3cret",
        (headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]),
        method="POST",
        path="/events",
        body=body,
        window_seconds=5,
    )
    assert signature.value == headers[signing.SIGNATURE_HEADER]
