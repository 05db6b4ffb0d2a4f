"""Steady-state checks and stop conditions: part of every run (`runner.RunbookRunner` runs
them with each runbook, whatever families are loaded), on the hook interface.

- Steady state `before`: every check runs before the first step; a failing one aborts the run
  before it acts (no rollbacks: nothing was done), naming the check.
- Steady state `after`: every check runs after the steps and any rollbacks; a failing one sets
  `deviated` (the run's status stays what it was).
- Stop conditions: from the start of the steps, each is evaluated every `interval`; the first
  failure aborts the run (rollbacks run, status `aborted`). Evaluation ends with the steps:
  a stop condition never cuts a rollback short.
- Invariants: a run the daemon's stop or crash interrupted is resumed at the next start with
  its rollbacks, then `recheck_invariants` evaluates its stop conditions and its `invariants`
  once each; a failure fails the job (nobody watched the system while the daemon was down).
Each check's result is a `check` record in the journal (a stop condition's only when it fails,
so a long run's journal is not a list of passing polls); the counts are in the extensions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any

from orchestrator.core.hooks import JournalSink, Run, RunHook
from orchestrator.core.journal import StepRecord
from orchestrator.core.logs import get_logger
from orchestrator.core.runbooks import ActionCall, StopConditionSpec

log = get_logger(__name__)


INVARIANTS = "invariants"  # the journal extension of a resumed run's rechecks

Evaluate = Callable[[ActionCall], Awaitable[StepRecord]]
"""Run a check action as a `check` record, without touching the journal (the runner's)."""


async def append(run: Run, record: JournalSink, step: StepRecord) -> None:
    """Add a check record without touching the step in progress (`current`)."""
    await record(replace(run.journal, steps=(*run.journal.steps, step)))


def failure_text(step: StepRecord) -> str:
    return f"check {step.name!r} ({step.action}) failed: {step.error or step.status.value}"


class SteadyStateHook(RunHook):
    name = "steady_state"

    def __init__(self, evaluate: Evaluate) -> None:
        self._evaluate = evaluate
        self._results: dict[str, dict[str, list[dict[str, Any]]]] = {}

    async def before_steps(self, run: Run, record: JournalSink) -> None:
        results = await self._check(run, record, run.runbook.steady_state.before, "before")
        failed = [r for r in results if not r["ok"]]
        if failed:
            run.request_abort(f"steady state before: {failed[0]['error']}")

    async def after_steps(self, run: Run, record: JournalSink) -> None:
        if not run.acted():
            return  # the run never started: there is no "after" to check
        results = await self._check(run, record, run.runbook.steady_state.after, "after")
        if any(not r["ok"] for r in results):
            run.journal = replace(run.journal, deviated=True)

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        return self._results.pop(run.job.id, None)

    async def _check(
        self, run: Run, record: JournalSink, checks: Sequence[ActionCall], when: str
    ) -> list[dict[str, Any]]:
        results = []
        for call in checks:
            step = await self._evaluate(call)
            await append(run, record, step)
            results.append(
                {"name": call.name, "ok": step.ok, "error": None if step.ok else failure_text(step)}
            )
        if checks:
            self._results.setdefault(run.job.id, {})[when] = results
        return results


async def _all(watchers: list[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*watchers)


class StopConditionHook(RunHook):
    """One watcher task per run, polling each stop condition on its own interval."""

    name = "stop_conditions"

    def __init__(self, evaluate: Evaluate) -> None:
        self._evaluate = evaluate
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    async def before_steps(self, run: Run, record: JournalSink) -> None:
        conditions = run.runbook.stop_conditions
        if not conditions or run.abort_reason is not None:
            return
        counts = self._counts.setdefault(run.job.id, {c.name: 0 for c in conditions})
        watchers = [self._watch(run, record, c, counts) for c in conditions]
        self._watchers[run.job.id] = asyncio.create_task(_all(watchers), name="stop-conditions")

    async def after_steps(self, run: Run, record: JournalSink) -> None:
        await self._stop(run.job.id)

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        await self._stop(run.job.id)  # also when after_steps did not run
        counts = self._counts.pop(run.job.id, None)
        if counts is None:
            return None
        return {name: {"evaluations": n} for name, n in counts.items()}

    async def _stop(self, job_id: str) -> None:
        task = self._watchers.pop(job_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(
        self, run: Run, record: JournalSink, condition: StopConditionSpec, counts: dict[str, int]
    ) -> None:
        while not run.steps_over and run.abort_reason is None:
            step = await self._evaluate(condition)
            counts[condition.name] += 1
            if not step.ok and not run.steps_over and run.abort_reason is None:
                await append(run, record, step)
                reason = f"stop condition: {failure_text(step)}"
                log.warning("stop condition failed", job_id=run.job.id, reason=reason)
                run.request_abort(reason)
                return
            await asyncio.sleep(condition.interval)


async def recheck_invariants(run: Run, record: JournalSink, evaluate: Evaluate) -> list[str]:
    """Every stop condition and invariant once, each a `check` record; the failures' texts.
    The results go to `journal.extensions["invariants"]`."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for call in [*run.runbook.stop_conditions, *run.runbook.invariants]:
        step = await evaluate(call)
        await append(run, record, step)
        error = None if step.ok else failure_text(step)
        results.append({"name": call.name, "ok": step.ok, "error": error})
        failures += [error] if error else []
    if results:
        extensions = {**run.journal.extensions, INVARIANTS: results}
        run.journal = replace(run.journal, extensions=extensions)
    return failures
