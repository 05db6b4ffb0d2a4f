"""A run the daemon's stop (or a crash) interrupted, resumed at the next start from its stored
journal: rollbacks rendered from the recorded step outputs exactly as in a live run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.core.actions import ActionContext, ActionRegistry, NoParams
from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase, RunStatus
from orchestrator.core.results import Result
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.runbooks.catalog import parse_raw
from tests.unit.test_executor import registry, runbook, step

UNDO_LABEL = "undo {{ steps.stamp.output.at }} {{ steps.stamp.output.pair }} {{ steps.a.ok }}"


def stamping_registry(calls: list[str]) -> ActionRegistry:
    """`test.step` plus `test.stamp`, whose output holds a time and a tuple (values a JSON
    journal stores differently from how the action returned them)."""
    reg = registry(calls)

    def stamp(ctx: ActionContext, params: NoParams) -> Result:
        return Result.success(at=datetime(2026, 12, 7, 3, 0, tzinfo=UTC), pair=(1, 2))

    reg.register("test.stamp", NoParams, "Output with a time and a tuple.")(stamp)
    return reg


def spec_for(reg: ActionRegistry, second_ok: bool) -> RunbookSpec:
    steps = [{"name": "stamp", "action": "test.stamp"}, step("a"), step("b", ok=second_ok)]
    return runbook(steps, [step("undo", label=UNDO_LABEL)], reg)


def runner(spec: RunbookSpec, reg: ActionRegistry, job: Job, journal: Journal, *,
           stop_during: str | None = None,
           hooks: Sequence[RunHook] = ()) -> RunbookRunner:  # fmt: skip
    """The daemon stops while step `stop_during` runs (the run stops before the next)."""
    stopping: list[bool] = []

    async def save(saved: Journal) -> None:
        if saved.current is not None and saved.current["name"] == stop_during:
            stopping.append(True)

    run = Run(job=job, runbook=spec, journal=journal,
              context=ActionContext(env="dev", job_id=job.id))  # fmt: skip
    deps = RunnerDeps(registry=reg, threads=ActionThreads(), save=save,
                      stopping=lambda: bool(stopping), hooks=hooks)  # fmt: skip
    return RunbookRunner(run, deps)


def stored(journal: Journal) -> Journal:
    """The journal as the store gives it back (a JSON column)."""
    return Journal.from_dict(json.loads(json.dumps(journal.to_dict())))


def test_an_interrupted_runs_rollbacks_render_from_its_journal_as_a_live_run_does() -> None:
    live_calls: list[str] = []
    live_reg = stamping_registry(live_calls)
    live_job = Job(runbook="t", env="dev", params={})
    live_spec = spec_for(live_reg, second_ok=False)  # b fails: the rollback runs live
    live_journal = asyncio.run(
        runner(live_spec, live_reg, live_job, Journal.start(live_job)).execute()
    )
    assert live_journal.status is RunStatus.FAILED

    calls: list[str] = []
    reg = stamping_registry(calls)
    spec = spec_for(reg, second_ok=False)
    job = Job(runbook="t", env="dev", params={})
    first = asyncio.run(runner(spec, reg, job, Journal.start(job), stop_during="a").execute())
    assert first.status is RunStatus.INTERRUPTED
    assert first.rollbacks_pending
    assert calls == ["a"]

    resumed = runner(spec, reg, job, stored(first))
    journal = asyncio.run(resumed.rollbacks_after_interruption())
    assert [r.name for r in journal.rollbacks] == ["undo"]
    assert journal.rollbacks[0].error is None
    assert calls[-1] == live_calls[-1] == "undo 2026-12-07T03:00:00+00:00 [1, 2] True"
    assert journal.status is RunStatus.INTERRUPTED
    assert not journal.rollbacks_pending


class Finished(RunHook):
    """Records the journal every finished run ends with (as the drill hook reads it)."""

    name = "finished"

    def __init__(self) -> None:
        self.seen: list[Journal] = []

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        self.seen.append(run.journal)
        return None


def test_a_resumed_run_rechecks_its_invariants_and_a_failing_one_fails_it() -> None:
    calls: list[str] = []
    reg = registry(calls)
    raw = {"name": "t", "description": "test", "owner": "me", "environments": ["dev"],
           "steps": [step("a"), step("b")], "rollback": [step("undo")],
           "stop_conditions": [{**step("never-two"), "interval": "1s"}],
           "invariants": [step("one-writer", ok=False)]}  # fmt: skip
    spec = parse_raw(raw, "t.yaml", reg)
    job = Job(runbook="t", env="dev", params={})
    hook = Finished()  # sees the run end once: at the resume, not at the stop
    interrupted = runner(spec, reg, job, Journal.start(job), stop_during="a", hooks=[hook])
    first = asyncio.run(interrupted.execute())
    assert (first.status, first.rollbacks_pending, hook.seen) == (RunStatus.INTERRUPTED, True, [])
    resumed = runner(spec, reg, job, stored(first), hooks=[hook])
    journal = asyncio.run(resumed.rollbacks_after_interruption())
    assert journal.status is RunStatus.FAILED
    assert journal.error is not None
    assert journal.error.endswith("check 'one-writer' (test.step) failed: one-writer failed")
    checks = [(s.name, s.ok) for s in journal.steps if s.phase is Phase.CHECK]
    assert checks[-2:] == [("never-two", True), ("one-writer", False)]
    assert [c["name"] for c in journal.extensions["invariants"]] == ["never-two", "one-writer"]
    assert [j.status for j in hook.seen] == [RunStatus.FAILED]
