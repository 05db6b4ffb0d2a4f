"""The runbook runner with test actions: policies, rollbacks, retries, timeouts, hooks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase, RunStatus, StepStatus
from orchestrator.core.results import Result
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.runbooks.catalog import RunbookError, load_runbook, parse_raw

INVALID_RUNBOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "runbooks-invalid"


class Outcome(ActionParams):
    label: str
    ok: bool = True
    raise_: bool = Field(default=False, alias="raise")
    fail_times: int = 0  # fail this many calls first, then succeed


def registry(calls: list[str]) -> ActionRegistry:
    reg = builtin_registry()
    counts: dict[str, int] = {}

    def step(ctx: ActionContext, params: Outcome) -> Result:
        name = params.label
        calls.append(name)
        counts[name] = counts.get(name, 0) + 1
        if params.raise_:
            raise RuntimeError("boom")
        if counts[name] <= params.fail_times or not params.ok:
            return Result.failure(f"{name} failed")
        return Result.success(name=name)

    reg.register("test.step", Outcome, "A step that does what its params say.")(step)
    return reg


def runbook(steps: list[dict[str, Any]], rollback: list[dict[str, Any]] | None = None,
            reg: ActionRegistry | None = None) -> RunbookSpec:  # fmt: skip
    raw = {"name": "t", "description": "test", "owner": "me", "environments": ["dev"],
           "steps": steps, "rollback": rollback or []}  # fmt: skip
    return parse_raw(raw, "t.yaml", reg or registry([]))


def step(name: str, **params: Any) -> dict[str, Any]:
    extra = {k: params.pop(k) for k in ("on_failure", "retries", "timeout") if k in params}
    return {"name": name, "action": "test.step", "params": {"label": name, **params}, **extra}


def execute(spec: RunbookSpec, reg: ActionRegistry, hooks: list[RunHook] | None = None,
            params: Mapping[str, Any] | None = None) -> tuple[Journal, list[Journal]]:  # fmt: skip
    saved: list[Journal] = []

    async def save(journal: Journal) -> None:
        saved.append(journal)

    job = Job(runbook=spec.name, env="dev", params=params or {})
    run = Run(job=job, runbook=spec, journal=Journal.start(job),
              context=ActionContext(env="dev", job_id=job.id))  # fmt: skip
    deps = RunnerDeps(registry=reg, threads=ActionThreads(), save=save,
                      stopping=lambda: False, hooks=hooks or [])  # fmt: skip
    return asyncio.run(RunbookRunner(run, deps).execute()), saved


def test_all_steps_ok_completes_with_per_step_records() -> None:
    calls: list[str] = []
    reg = registry(calls)
    journal, saved = execute(runbook([step("a"), step("b")], reg=reg), reg)
    assert journal.status is RunStatus.COMPLETED
    assert not journal.deviated
    assert [(s.name, s.status, s.phase) for s in journal.steps] == [
        ("a", StepStatus.OK, Phase.STEP), ("b", StepStatus.OK, Phase.STEP)]  # fmt: skip
    assert journal.steps[0].output == {"name": "a"}
    assert calls == ["a", "b"]
    assert saved[0].current is not None
    assert saved[0].current["name"] == "a"  # the step in progress is on record before it runs


def test_failed_step_runs_the_rollbacks_in_order_and_fails() -> None:
    calls: list[str] = []
    reg = registry(calls)
    spec = runbook(
        [step("a"), step("b", ok=False), step("c")], [step("undo-1"), step("undo-2")], reg
    )
    journal, _ = execute(spec, reg)
    assert journal.status is RunStatus.FAILED
    assert calls == ["a", "b", "undo-1", "undo-2"]
    assert [r.name for r in journal.rollbacks] == ["undo-1", "undo-2"]
    assert journal.error == "step 'b': b failed"


def test_a_failed_rollback_fails_the_run_and_the_others_still_run() -> None:
    calls: list[str] = []
    reg = registry(calls)
    spec = runbook([step("a", ok=False, on_failure="rollback")],
                   [step("undo-1", ok=False), step("undo-2")], reg)  # fmt: skip
    journal, _ = execute(spec, reg)
    assert journal.status is RunStatus.FAILED
    assert calls == ["a", "undo-1", "undo-2"]
    assert journal.error == "step 'a': a failed; rollback 'undo-1': undo-1 failed"


def test_continue_marks_deviated_and_abort_skips_rollbacks() -> None:
    calls: list[str] = []
    reg = registry(calls)
    journal, _ = execute(runbook([step("a", ok=False, on_failure="continue"), step("b")],
                                 [step("undo")], reg), reg)  # fmt: skip
    assert (journal.status, journal.deviated) == (RunStatus.COMPLETED, True)
    journal, _ = execute(runbook([step("x", ok=False, on_failure="abort"), step("y")],
                                 [step("undo")], reg), reg)  # fmt: skip
    assert journal.status is RunStatus.ABORTED
    assert journal.rollbacks == ()
    assert calls == ["a", "b", "x"]


def test_retries_until_success_each_attempt_counted() -> None:
    calls: list[str] = []
    reg = registry(calls)
    retried = step("flaky", fail_times=2, retries={"attempts": 3, "wait": 0})
    journal, _ = execute(runbook([retried], reg=reg), reg)
    assert journal.status is RunStatus.COMPLETED
    assert journal.steps[0].attempts == 3
    assert calls == ["flaky"] * 3
    journal, _ = execute(runbook([step("never", ok=False, retries=1)], reg=reg), reg)
    assert (journal.status, journal.steps[0].attempts) == (RunStatus.FAILED, 2)


def test_timeout_fails_the_step_and_cancels_the_action() -> None:
    reg = builtin_registry()
    slow = {"name": "hold", "action": "wait", "params": {"seconds": 30}, "timeout": 0.2}
    journal, _ = execute(runbook([slow], reg=reg), reg)
    assert journal.status is RunStatus.FAILED
    assert journal.steps[0].status is StepStatus.TIMED_OUT
    assert journal.steps[0].error == "timed out after 0.2s"


def test_an_action_that_raises_is_a_failed_step() -> None:
    reg = registry([])
    journal, _ = execute(runbook([step("r", **{"raise": True})], reg=reg), reg)
    assert journal.status is RunStatus.FAILED
    assert journal.steps[0].error == "action raised RuntimeError: boom"


def test_params_are_templated_from_the_job_and_earlier_steps() -> None:
    reg = builtin_registry()
    spec = parse_raw({"name": "t", "description": "d", "owner": "o", "environments": ["dev"],
                      "steps": [{"name": "one", "action": "wait", "params": {"seconds": 0}},
                                {"name": "two", "action": "log", "params": {
                                    "message": "db {{ params.db }} waited {{ steps.one.output.seconds }}"}}]},  # noqa: E501
                     "t.yaml", reg)  # fmt: skip
    journal, _ = execute(spec, reg, params={"db": "forecasts"})
    assert journal.steps[1].output == {"message": "db forecasts waited 0.0"}
    bad_params = parse_raw({"name": "t", "description": "d", "owner": "o", "environments": ["dev"],
                            "steps": [{"name": "w", "action": "wait",
                                       "params": {"seconds": "{{ params.s }}"}}]}, "t.yaml", reg)  # fmt: skip  # noqa: E501
    journal, _ = execute(bad_params, reg, params={"s": "soon"})
    assert journal.steps[0].error is not None
    assert journal.steps[0].error.startswith("params.seconds: Input should be a valid number")


class AbortingHook(RunHook):
    """A stop condition that fails at once (what issue 6's stop conditions do via this hook)."""

    name = "stop"

    async def before_steps(self, run: Run, record: Any) -> None:
        run.request_abort("primary unhealthy")

    async def on_finish(self, run: Run) -> Mapping[str, Any]:
        return {"checked": True}


def test_a_hook_abort_before_any_step_acts_on_nothing_and_records_its_extension() -> None:
    calls: list[str] = []
    reg = registry(calls)
    journal, _ = execute(runbook([step("a")], [step("undo")], reg), reg, hooks=[AbortingHook()])
    assert journal.status is RunStatus.ABORTED
    assert journal.error == "aborted: primary unhealthy"
    assert calls == []  # nothing ran, so there is nothing to roll back
    assert journal.extensions == {"stop": {"checked": True}}


class AbortAfterFirstStep(RunHook):
    """Aborts while the second step (a wait) runs: the wait is signalled, rollbacks run."""

    name = "stop"

    async def before_steps(self, run: Run, record: Any) -> None:
        async def watch() -> None:
            while not run.acted():
                await asyncio.sleep(0.01)
            run.request_abort("primary unhealthy")

        self.task = asyncio.create_task(watch())


def test_a_hook_abort_mid_run_signals_the_running_step_and_runs_the_rollbacks() -> None:
    calls: list[str] = []
    reg = registry(calls)
    wait = {"name": "hold", "action": "wait", "params": {"seconds": 600}}
    spec = runbook([step("a"), wait, step("b")], [step("undo")], reg)
    journal, _ = execute(spec, reg, hooks=[AbortAfterFirstStep()])
    assert journal.status is RunStatus.ABORTED
    assert calls == ["a", "undo"]
    assert journal.steps[1].error is not None
    assert journal.steps[1].error.startswith("cancelled before 600s")


@pytest.mark.parametrize("fixture", sorted(INVALID_RUNBOOKS.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_runbook_names_file_and_key(fixture: Path) -> None:
    expected = fixture.read_text().splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(RunbookError) as error:
        load_runbook(fixture, builtin_registry())
    message = str(error.value).split(" (known: ")[0]  # the known actions grow with families
    assert message == f"{fixture}: {expected}"


def test_prod_requires_approval_unless_the_runbook_says_otherwise() -> None:
    spec = runbook([step("a")])
    assert spec.requires_approval("prod")
    assert not spec.requires_approval("dev")
    relaxed = spec.model_copy(update={"approval": {"prod": False, "dev": True}})
    assert not relaxed.requires_approval("prod")
    assert relaxed.requires_approval("dev")


def test_action_threads_are_reused_and_a_stuck_action_holds_up_no_other() -> None:
    threads, release = ActionThreads(), threading.Event()

    def stuck() -> Result:
        release.wait(30)
        return Result.success(thread=threading.get_ident())

    def quick() -> Result:
        return Result.success(thread=threading.get_ident())

    async def scenario() -> tuple[Result, list[Result]]:
        held = threads.submit(stuck, "stuck")
        quick_ones = [await threads.submit(quick, "quick") for _ in range(5)]
        release.set()
        return await held, quick_ones

    held, quick_ones = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    reused = {r.data["thread"] for r in quick_ones}
    assert len(reused) == 1  # one idle worker took every quick call in turn
    assert held.data["thread"] not in reused
