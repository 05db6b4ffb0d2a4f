"""Running one job's runbook: steps in order, the on-failure policy, rollbacks, the journal.

Outcomes (each written to the journal, every step with its start, end and output):
- every step ok (or failed with `on_failure: continue`, which sets `deviated`) -> completed;
- a step fails with `on_failure: rollback` -> the rollback steps run in order -> failed;
- a hook requests an abort (a stop condition, the kill switch) -> rollbacks run (when a step
  ran: an abort before the first step has nothing to undo) -> aborted;
- a step fails with `on_failure: abort` -> no rollbacks -> aborted;
- the daemon stops -> the run stops before its next step -> interrupted, its resume pending
  (`rollbacks_pending`; a crash leaves the same): the next start runs its rollbacks, rendered
  from the journal's step outputs, then checks its stop conditions and invariants once (a
  failure -> failed); only then do the hooks see it end (`on_finish`), once;
- any rollback fails -> failed, whatever the status would have been.

The whole runbook format runs here, for every runbook: steady state before and after the steps,
stop conditions (`checks`), rollbacks, and the RTO/RPO assessment against the targets
(`targets`, stored as `journal.extensions["dr"]`). Families add `RunHook`s
(`orchestrator.core.hooks`) on top: metrics from step outputs, records of their own.
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
from orchestrator.engine.executor.checks import (
    SteadyStateHook,
    StopConditionHook,
    recheck_invariants,
)
from orchestrator.engine.executor.steps import ActionThreads, StepCall, run_step
from orchestrator.engine.executor.targets import EXTENSION, targets_extension

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
        run.params = run.runbook.bind(run.job.params)  # ParameterError: the job cannot run
        run.outputs = run.journal.step_views()  # a resumed run's steps, from its journal
        self._current_cancel = threading.Event()
        # The runbook format's own checks, first: a failing steady state aborts the run before
        # the stop conditions' watchers start.
        self._hooks: list[RunHook] = [
            SteadyStateHook(self._evaluate),
            StopConditionHook(self._evaluate),
            *deps.hooks,
        ]

    def cancel_current_step(self) -> None:
        """Signal the running action (`ctx.cancelled`) at the end of the shutdown grace."""
        self._current_cancel.set()
        self.run.context.cancelled.set()

    async def execute(self) -> Journal:
        try:
            for hook in self._hooks:
                await hook.before_steps(self.run, self._record)
            status = await self._steps()
            self.run.steps_over = True
            if status in (RunStatus.FAILED, RunStatus.ABORTED) and self._rolls_back(status):
                status = await self._rollbacks(status)
            for hook in self._hooks:
                await hook.after_steps(self.run, self._record)
            self._finish(status)
            if status is not RunStatus.INTERRUPTED:  # its end is the resume's, hooks included
                await self._extensions()
        except Exception as exc:
            log.exception("run failed in the executor", job_id=self.run.job.id)
            self.run.journal = self.run.journal.finish(RunStatus.FAILED, f"executor error: {exc}")
        return self.run.journal

    async def rollbacks_after_interruption(self) -> Journal:
        """At start: a run the daemon's stop or crash interrupted. Its rollbacks, then its
        invariants (a failing one fails it), then the hooks' `on_finish` (drill metrics)."""
        try:
            status = await self._resume()
            self.run.journal = replace(self.run.journal, status=status, rollbacks_pending=False)
            await self._extensions()
        except Exception as exc:
            log.exception("resuming an interrupted run failed", job_id=self.run.job.id)
            journal = self.run.journal.finish(RunStatus.FAILED, f"executor error: {exc}")
            self.run.journal = replace(journal, rollbacks_pending=False)
        return self.run.journal

    async def _resume(self) -> RunStatus:
        self.run.cut_short = self.run.journal.current
        self.run.journal = replace(self.run.journal, current=None)
        status = await self._rollbacks(RunStatus.INTERRUPTED)
        failures = await recheck_invariants(self.run, self._record, self._evaluate)
        if not failures:
            return status
        error = "; ".join(filter(None, [self.run.journal.error, *failures]))
        self.run.journal = replace(self.run.journal, error=error)
        return RunStatus.FAILED

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
        self.run.outputs[call.name] = record.template_view()
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
        """The assessment against the runbook's targets, if it has any (hooks may read it),
        then what each hook adds."""
        run, targets = self.run, self.run.runbook.targets
        if targets.rto is not None or targets.rpo is not None:
            assessment = targets_extension(run.journal, targets, run.job.dry_run)
            run.journal = replace(
                run.journal, extensions={**run.journal.extensions, EXTENSION: assessment}
            )
        extensions = dict(run.journal.extensions)
        for hook in self._hooks:
            data = await hook.on_finish(self.run)
            if data is not None:
                extensions[hook.name] = dict(data)
        self.run.journal = replace(self.run.journal, extensions=extensions)

    def _finish(self, status: RunStatus) -> Journal:
        journal = self.run.journal
        if status is RunStatus.INTERRUPTED:
            journal = replace(journal, rollbacks_pending=True)  # the next start resumes it
            error: str | None = "the daemon stopped during the run"
        else:
            error = f"aborted: {self.run.abort_reason}" if self.run.abort_reason else None
            if error and journal.error:  # e.g. a rollback that failed after the abort
                error = f"{error}; {journal.error}"
        self.run.journal = journal.finish(status, error)
        return self.run.journal
