"""The hook contract: a run in progress as hooks see it (`Run`) and the hooks themselves
(`RunHook`), which families add to the executor (metrics from step outputs, drill records).

A hook may `run.request_abort(reason)`: the run stops before its next step, the running
attempt's `ctx.cancelled` is set, rollbacks run (only if a step ran), status `aborted`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.actions import ActionContext
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase
from orchestrator.core.runbooks import RunbookSpec

JournalSink = Callable[[Journal], Awaitable[None]]


@dataclass(kw_only=True)
class Run:
    """One run in progress, as hooks see it."""

    job: Job
    runbook: RunbookSpec
    journal: Journal
    context: ActionContext
    params: Mapping[str, Any] = field(default_factory=dict)
    """The job's parameters with the runbook's defaults (what step templates see)."""
    abort_reason: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    steps_over: bool = False
    """Set when the steps end (then rollbacks, after-checks): an abort can change nothing."""
    step_cancel: threading.Event | None = None
    """The running attempt's `ctx.cancelled` (each attempt gets its own)."""
    cut_short: Mapping[str, Any] | None = None
    """A resumed run: the step (`journal.current`: name, phase, started_at) that the daemon's
    stop or crash cut short, if one was running then."""

    def request_abort(self, reason: str) -> None:
        """Stop before the next step (and signal the running one); rollbacks run; aborted.
        Ignored once the steps are over: nothing may cut a rollback short."""
        if self.abort_reason is None and not self.steps_over:
            self.abort_reason = reason
            self.context.cancelled.set()
            if self.step_cancel is not None:
                self.step_cancel.set()

    def acted(self) -> bool:
        """Whether any step ran (checks are not steps)."""
        return any(record.phase is Phase.STEP for record in self.journal.steps)

    def template_context(self) -> dict[str, Any]:
        job = {"id": self.job.id, "runbook": self.job.runbook, "env": self.job.env}
        return {
            "params": dict(self.params),
            "env": self.job.env,
            "job": job,
            "steps": self.outputs,
        }


class RunHook:
    """Base of executor hooks; every method is optional. `name` keys the hook's data in
    `journal.extensions`. Hooks run inside the job's task: a hook that raises fails the run
    with the error in the journal (it cannot stop other jobs)."""

    name = "hook"

    async def before_steps(self, run: Run, record: JournalSink) -> None:
        """Before the first step (steady state before; start stop-condition watchers)."""

    async def after_steps(self, run: Run, record: JournalSink) -> None:
        """After the steps and any rollbacks (steady state after; may set deviated)."""

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        """Last, with the final status in `run.journal`: data for `journal.extensions[name]`
        (RTO/RPO against targets)."""
        return None
