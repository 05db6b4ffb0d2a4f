"""The executor: claims pending jobs, runs their runbooks, records and announces the outcome.

At start it marks this daemon's jobs that were running when it stopped (or crashed) as
`interrupted` and runs their rollbacks. It claims jobs when woken (a rule fired) and every
`poll_seconds` (an approval from the CLI, another daemon's job). It runs in the job worker
process (`orchestrator.app.worker`), apart from the intake. Each finished job fires
`fluxora/job/<id>/<status>` on the Salt bus. On stop it claims nothing more, lets running
steps finish for the grace period, then marks what is left `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from orchestrator.core.actions import ActionContext, ActionRegistry
from orchestrator.core.hooks import Run, RunHook
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.journal import Completion, Journal, RunStatus
from orchestrator.core.leftovers import LeftoverLedger
from orchestrator.core.logs import get_logger
from orchestrator.core.resources import Resources
from orchestrator.core.runbooks import ParameterError
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.metrics import JobMetrics
from orchestrator.engine.runbooks.catalog import RunbookCatalog, RunbookError
from orchestrator.store.runner import Batcher

log = get_logger(__name__)


class EventPublisher(Protocol):
    """Where job completions are announced (the Salt master event bus)."""

    def publish(self, tag: str, data: Mapping[str, Any]) -> None: ...


class JobStore(Protocol):
    """The store calls the executor makes (`Store`'s methods of the same names, awaited)."""

    async def claim_jobs(self, owner: str, limit: int) -> list[tuple[Job, Journal]]: ...

    async def save_journals(self, journals: Sequence[Journal]) -> None: ...

    async def finish_jobs(self, completions: Sequence[Completion]) -> list[Job]: ...

    async def interrupt_running(self, owner: str) -> list[tuple[Job, Journal]]: ...

    async def pending_rollbacks(self) -> list[tuple[Job, Journal]]: ...


class ResourceSource(Protocol):
    def for_env(self, env: str) -> Resources: ...


@dataclass(frozen=True, kw_only=True)
class ExecutorSettings:
    node_id: str
    max_jobs: int
    poll_seconds: float


class AbortAnswer(enum.Enum):
    """What `Executor.abort` did with an operator's abort."""

    ABORTING = "aborting"
    NOT_RUNNING_HERE = "not-running-here"
    PAST_STEPS = "past-steps"


def job_tag(job_id: str, status: JobStatus) -> str:
    return f"fluxora/job/{job_id}/{status.value}"


class Executor:
    def __init__(
        self,
        *,
        store: JobStore,
        catalog: RunbookCatalog,
        registry: ActionRegistry,
        resources: ResourceSource,
        metrics: JobMetrics,
        publisher: EventPublisher,
        settings: ExecutorSettings,
        hooks: Sequence[RunHook] = (),
        leftovers: LeftoverLedger | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._registry = registry
        self._resources = resources
        self._metrics = metrics
        self._publisher = publisher
        self._settings = settings
        self._hooks = hooks
        self._leftovers = leftovers or LeftoverLedger()
        self._threads = ActionThreads()
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: dict[str, tuple[asyncio.Task[None], RunbookRunner]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._journals: Batcher[Journal, None] = Batcher(self._save_journals)
        self._finishes: Batcher[Completion, Job | None] = Batcher(self._finish_jobs)

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self._recover()
        self._loop_task = asyncio.create_task(self._loop(), name="executor")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = [task for task, _ in self._running.values()]
        if tasks:
            log.info("waiting for running steps", jobs=len(tasks), grace_seconds=grace_seconds)
            await asyncio.wait(tasks, timeout=grace_seconds)
        await self._abandon()

    async def _abandon(self) -> None:
        """The grace is over: signal the actions still running, mark their jobs interrupted."""
        left = list(self._running.values())
        for task, runner in left:
            runner.cancel_current_step()
            task.cancel()
        await asyncio.gather(*(task for task, _ in left), return_exceptions=True)
        interrupted = await self._store.interrupt_running(self._settings.node_id)
        for job, _ in interrupted:
            log.warning("job interrupted by shutdown", job_id=job.id, runbook=job.runbook)
            self._account(job, JobStatus.INTERRUPTED)
            self._publish(job, JobStatus.INTERRUPTED)

    def abort(self, job_id: str, reason: str) -> AbortAnswer:
        """Ask a job this daemon runs to stop: the running step is signalled, rollbacks run,
        the status is `aborted`. A job past its steps is not cut short."""
        entry = self._running.get(job_id)
        if entry is None:
            return AbortAnswer.NOT_RUNNING_HERE
        run = entry[1].run
        run.request_abort(reason)
        return AbortAnswer.PAST_STEPS if run.steps_over else AbortAnswer.ABORTING

    # --- claiming -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_seconds)
            self._wake.clear()
            try:
                await self._claim()
            except Exception:
                log.exception("claiming jobs failed; retrying")

    async def _claim(self) -> None:
        while not self._stopping:
            free = self._settings.max_jobs - len(self._running)
            if free <= 0:
                return
            claimed = await self._store.claim_jobs(self._settings.node_id, free)
            for job, journal in claimed:
                await self._start(job, journal)
            if len(claimed) < free:
                return

    # --- running ------------------------------------------------------------------------------
    async def _start(self, job: Job, journal: Journal) -> None:
        try:
            runner = self._runner(job, journal)
        except RunbookError as exc:
            await self._complete(job, journal.finish(RunStatus.FAILED, f"runbook gone: {exc}"))
            return
        except ParameterError as exc:  # the runbook changed since the job was created
            await self._complete(job, journal.finish(RunStatus.FAILED, str(exc)))
            return
        self._metrics.jobs_running.labels(job.runbook, job.env).inc()
        task = asyncio.create_task(self._run(job, runner), name=f"job-{job.id}")
        self._running[job.id] = (task, runner)

    def _runner(self, job: Job, journal: Journal) -> RunbookRunner:
        """RunbookError when the job's runbook is no longer in the catalog, ParameterError
        when the job's parameters no longer fit it."""
        runbook = self._catalog.get(job.runbook)
        context = ActionContext(
            env=job.env,
            dry_run=job.dry_run,
            job_id=job.id,
            resources=self._resources.for_env(job.env),
            leftovers=self._leftovers,
        )
        run = Run(job=job, runbook=runbook, journal=journal, context=context)
        deps = RunnerDeps(
            registry=self._registry,
            threads=self._threads,
            save=self._journals.submit,
            stopping=lambda: self._stopping,
            hooks=self._hooks,
        )
        return RunbookRunner(run, deps)

    async def _run(self, job: Job, runner: RunbookRunner) -> None:
        try:
            journal = await runner.execute()
            await self._complete(job, journal)
        finally:
            self._running.pop(job.id, None)
            self._metrics.jobs_running.labels(job.runbook, job.env).dec()
            self.wake()

    async def _complete(self, job: Job, journal: Journal) -> None:
        status = (journal.status or RunStatus.FAILED).job_status
        done = await self._finishes.submit(
            Completion(job_id=job.id, status=status, journal=journal)
        )
        finished = done or job
        self._account(finished, status)
        self._publish(finished, status)
        log.info(
            "job finished",
            job_id=job.id,
            runbook=job.runbook,
            env=job.env,
            status=status.value,
            deviated=journal.deviated,
        )

    def _account(self, job: Job, status: JobStatus) -> None:
        self._metrics.jobs.labels(job.runbook, job.env, status.value).inc()
        if job.started_at is not None and job.finished_at is not None:
            seconds = (job.finished_at - job.started_at).total_seconds()
            self._metrics.job_duration_seconds.labels(job.runbook, job.env).observe(seconds)

    def _publish(self, job: Job, status: JobStatus) -> None:
        data = {
            "job_id": job.id,
            "runbook": job.runbook,
            "env": job.env,
            "status": status.value,
            "event_id": job.event_id,
            "rule": job.rule,
        }
        try:
            self._publisher.publish(job_tag(job.id, status), data)
        except Exception:
            log.exception("publishing the job's completion failed", job_id=job.id)

    # --- recovery ----------------------------------------------------------------------------
    async def _recover(self) -> None:
        interrupted = await self._store.interrupt_running(self._settings.node_id)
        for job, _ in interrupted:
            log.warning("job was running when the daemon stopped", job_id=job.id)
            self._account(job, JobStatus.INTERRUPTED)
            self._publish(job, JobStatus.INTERRUPTED)
        for job, journal in await self._store.pending_rollbacks():
            await self._roll_back(job, journal)

    async def _roll_back(self, job: Job, journal: Journal) -> None:
        try:
            runner = self._runner(job, journal)
        except (RunbookError, ParameterError) as exc:
            error = f"cannot run the rollbacks: {exc}"
            final = replace(journal, status=RunStatus.FAILED, rollbacks_pending=False, error=error)
        else:
            log.info("running the rollbacks of an interrupted job", job_id=job.id)
            final = await runner.rollbacks_after_interruption()
        status = (final.status or RunStatus.FAILED).job_status
        await self._finishes.submit(Completion(job_id=job.id, status=status, journal=final))
        if status is not JobStatus.INTERRUPTED:
            self._publish(job, status)

    # --- group commit ---------------------------------------------------------------------------
    async def _save_journals(self, journals: list[Journal]) -> list[None]:
        latest = {j.job_id: j for j in journals}  # only the newest of each job matters
        await self._store.save_journals(list(latest.values()))
        return [None] * len(journals)

    async def _finish_jobs(self, completions: list[Completion]) -> list[Job | None]:
        jobs = await self._store.finish_jobs(completions)
        by_id = {job.id: job for job in jobs}
        return [by_id.get(c.job_id) for c in completions]
