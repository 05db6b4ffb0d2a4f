"""Running one job's runbook: steps in order, the on-failure policy, rollbacks, the journal.

Outcomes (each written to the journal, every step with its start, end and output):
- every step ok (or failed with `on_failure: continue`, which sets `deviated`) -> completed;
- a step fails with `on_failure: rollback` -> the rollback steps run in order -> failed;
- a hook requests an abort (a stop condition, the kill switch) -> rollbacks run (when a step
  ran: an abort before the first step has nothing to undo) -> aborted;
- a step fails with `on_failure: abort` -> no rollbacks -> aborted;
- the daemon stops -> the run stops before its next step -> interrupted, rollbacks pending
  (the next start runs them);
- any rollback fails -> failed, whatever the status would have been.

Families extend a run with `RunHook`s (`orchestrator.core.hooks`): checks before and after
the steps, watchers that call `run.request_abort`, and data for `journal.extensions`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from orchestrator.core.actions import ActionRegistry
from orchestrator.core.hooks import JournalSink, Run, RunHook
from orchestrator.core.journal import Journal, Phase, RunStatus, StepRecord
from orchestrator.core.logs import get_logger
from orchestrator.core.runbooks import ActionCall, OnFailure
from orchestrator.engine.executor.steps import ActionThreads, StepCall, run_step

log = get_logger(__name__)


@dataclass(kw_only=True)
class RunnerDeps:
    registry: ActionRegistry
    threads: ActionThreads
    save: JournalSink
    stopping: Callable[[], bool]
    """True once the daemon is shutting down: the run stops before its next step."""
    hooks: Sequence[RunHook] = ()


class RunbookRunner:
    """Runs one job to its end (or to the daemon's stop) and returns the final journal."""

    def __init__(self, run: Run, deps: RunnerDeps) -> None:
        self.run = run
        self.deps = deps
        self._current_cancel = threading.Event()
        run.evaluate = self._evaluate

    def cancel_current_step(self) -> None:
        """Signal the running action (`ctx.cancelled`) at the end of the shutdown grace."""
        self._current_cancel.set()
        self.run.context.cancelled.set()

    async def execute(self) -> Journal:
        try:
            for hook in self.deps.hooks:
                await hook.before_steps(self.run, self._record)
            status = await self._steps()
            self.run.steps_over = True
            if status in (RunStatus.FAILED, RunStatus.ABORTED) and self._rolls_back(status):
                status = await self._rollbacks(status)
            for hook in self.deps.hooks:
                await hook.after_steps(self.run, self._record)
            self._finish(status)
            await self._extensions()
        except Exception as exc:
            log.exception("run failed in the executor", job_id=self.run.job.id)
            self.run.journal = self.run.journal.finish(RunStatus.FAILED, f"executor error: {exc}")
        return self.run.journal

    async def rollbacks_after_interruption(self) -> Journal:
        """At start: run the rollbacks of a run the daemon's stop interrupted."""
        self.run.journal = replace(self.run.journal, current=None)
        status = await self._rollbacks(RunStatus.INTERRUPTED)
        self.run.journal = replace(self.run.journal, status=status, rollbacks_pending=False)
        return self.run.journal

    def _rolls_back(self, status: RunStatus) -> bool:
        # An abort requested by a hook rolls back (if a step ran); `on_failure: abort` does not.
        if status is RunStatus.FAILED:
            return True
        return self.run.abort_reason is not None and self.run.acted()

    async def _steps(self) -> RunStatus:
        for step in self.run.runbook.steps:
            if self.run.abort_reason is not None:
                return RunStatus.ABORTED
            if self.deps.stopping():
                return RunStatus.INTERRUPTED
            record = await self._call(step, Phase.STEP)
            if record.ok:
                continue
            if self.run.abort_reason is not None:
                return RunStatus.ABORTED  # the step failed because the abort stopped it
            if step.on_failure is OnFailure.CONTINUE:
                self.run.journal = replace(self.run.journal, deviated=True)
                continue
            self.run.journal = replace(
                self.run.journal, error=f"step {step.name!r}: {record.error}"
            )
            return RunStatus.ABORTED if step.on_failure is OnFailure.ABORT else RunStatus.FAILED
        return RunStatus.ABORTED if self.run.abort_reason is not None else RunStatus.COMPLETED

    async def _rollbacks(self, status: RunStatus) -> RunStatus:
        """Every rollback step in order, even after one fails; any failure fails the run."""
        self.run.steps_over = True
        failed = []
        for step in self.run.runbook.rollback:
            record = await self._call(step, Phase.ROLLBACK)
            if not record.ok:
                failed.append(f"rollback {step.name!r}: {record.error}")
        if not failed:
            return status
        error = "; ".join(filter(None, [self.run.journal.error, *failed]))
        self.run.journal = replace(self.run.journal, error=error)
        return RunStatus.FAILED

    async def _call(self, call: ActionCall, phase: Phase) -> StepRecord:
        await self._record(self.run.journal.starting(call.name, phase))
        how = StepCall(
            registry=self.deps.registry,
            threads=self.deps.threads,
            context=self.run.context,
            template_context=self.run.template_context(),
            stop=lambda: self.run.abort_reason is not None or self.deps.stopping(),
            on_attempt=self._track,
        )
        record = await run_step(call, phase, how)
        self.run.outputs[call.name] = {"ok": record.ok, "output": dict(record.output)}
        # Kept in memory: the next step's start (or the end of the run) writes it, so each step
        # costs one journal write, made before it acts.
        self.run.journal = self.run.journal.with_step(record)
        return record

    async def _evaluate(self, call: ActionCall) -> StepRecord:
        how = StepCall(
            registry=self.deps.registry,
            threads=self.deps.threads,
            context=self.run.context,
            template_context=self.run.template_context(),
            stop=self.deps.stopping,
        )
        return await run_step(call, Phase.CHECK, how)

    def _track(self, cancelled: threading.Event) -> None:
        self._current_cancel = cancelled
        self.run.step_cancel = cancelled

    async def _record(self, journal: Journal) -> None:
        self.run.journal = journal
        await self.deps.save(journal)

    async def _extensions(self) -> None:
        extensions = dict(self.run.journal.extensions)
        for hook in self.deps.hooks:
            data = await hook.on_finish(self.run)
            if data is not None:
                extensions[hook.name] = dict(data)
        if extensions:
            self.run.journal = replace(self.run.journal, extensions=extensions)

    def _finish(self, status: RunStatus) -> Journal:
        journal = self.run.journal
        if status is RunStatus.INTERRUPTED:
            journal = replace(journal, rollbacks_pending=bool(self.run.runbook.rollback))
            error: str | None = "the daemon stopped during the run"
        else:
            error = f"aborted: {self.run.abort_reason}" if self.run.abort_reason else None
            if error and journal.error:  # e.g. a rollback that failed after the abort
                error = f"{error}; {journal.error}"
        self.run.journal = journal.finish(status, error)
        return self.run.journal
