"""A run a crash cut short in the middle of a step: the resume tells the hooks which step."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase
from tests.unit.test_executor_resume import runner, spec_for, stamping_registry, stored


class CutShort(RunHook):
    name = "cut_short"

    def __init__(self) -> None:
        self.seen: list[Mapping[str, Any] | None] = []

    async def on_finish(self, run: Run) -> Mapping[str, Any] | None:
        self.seen.append(run.cut_short)
        return None


def test_the_resume_names_the_step_a_crash_cut_short_to_the_hooks() -> None:
    reg = stamping_registry([])
    spec = spec_for(reg, second_ok=True)
    job = Job(runbook=spec.name, env="dev")
    crashed = stored(Journal.start(job).starting("a", Phase.STEP))  # saved as "a" began
    hook = CutShort()
    resumed = asyncio.run(
        runner(spec, reg, job, crashed, hooks=[hook]).rollbacks_after_interruption()
    )
    assert resumed.current is None
    (seen,) = hook.seen
    assert seen is not None
    assert (seen["name"], seen["phase"]) == ("a", "step")
