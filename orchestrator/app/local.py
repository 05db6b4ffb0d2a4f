"""The CLI's local wiring, built from the config exactly as the job worker builds it: the same
families, their resources on the same store and object stores.

`Local.run_request` is what a changing command (backup, restore-verify, runbook run, scale)
does when no daemon answers: the request event takes the daemon's path in this process — into
the store's inbox, decided by the configured rules (parameters, dedup, cooldown, locks,
approval), and the job a rule created is claimed and run by the runbook runner with the
families' hooks, its journal and final status written to the store. A job the rules did not
create is a refusal with every rule's reason; a job that waits for approval is left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.app import wiring
from orchestrator.app.config import Config
from orchestrator.app.families import FAMILIES, builtin_registry, family_hooks
from orchestrator.app.resources import ResourceProvider
from orchestrator.core.actions import ActionContext, ActionRegistry, Progress
from orchestrator.core.decisions import DecisionLine, NoJobError
from orchestrator.core.events import Event, EventSource
from orchestrator.core.hooks import Run
from orchestrator.core.inbox import Submission
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.journal import Completion, Journal, RunStatus
from orchestrator.core.resources import Resources
from orchestrator.engine.api.views import job_detail_view
from orchestrator.engine.definitions import Definitions
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.inbox import PROCESS_BATCH
from orchestrator.engine.rules.engine import RuleEngine
from orchestrator.store.runner import StoreRunner

FOLLOW_SECONDS = 0.5
CLI_OWNER = "cli"
MAX_RUNNING = 1000


class Local:
    """The actions and their resources, per environment, on the store the config names."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry: ActionRegistry = builtin_registry()
        self.store = wiring.open_configured_store(config)
        self.store.migrate()
        self.objectstores = wiring.object_stores(config)
        self._deps = wiring.resource_deps(config, self.store, self.objectstores)
        self._resources = ResourceProvider(FAMILIES, self._deps)

    def resources(self, env: str) -> Resources:
        return self._resources.for_env(env)

    def context(
        self, env: str, *, dry_run: bool = False, job_id: str | None = None
    ) -> ActionContext:
        return ActionContext(env=env, dry_run=dry_run, job_id=job_id, resources=self.resources(env))

    def close(self) -> None:
        self.store.close()

    def run_request(
        self, tag: str, data: dict[str, Any], progress: Callable[[Progress], None]
    ) -> dict[str, Any]:
        """The request event through the rules, its job run here; the job as /api/jobs/ID
        shows it (NoJobError when no rule created one)."""
        event = Event(tag=tag, source=EventSource.WEBHOOK, data=data)
        self._interrupt_orphans()
        definitions = wiring.definitions(self.config)
        job = self._decide(event, wiring.rule_engine(self.config, definitions))
        if job.status is JobStatus.AWAITING_APPROVAL:
            return job_detail_view(job, None, None)
        return asyncio.run(self._run(job, definitions, progress))

    def _interrupt_orphans(self) -> None:
        """Jobs a killed CLI on this host left running are interrupted (their locks freed;
        their rollbacks run at the next daemon start), as a daemon does with its own."""
        for job in self.store.list_jobs(limit=MAX_RUNNING, status=JobStatus.RUNNING):
            if job.owner is not None and _orphaned(job.owner):
                self.store.interrupt_running(job.owner)

    def _decide(self, event: Event, engine: RuleEngine) -> Job:
        store = self.store
        store.add_events([Submission(event=event)])
        while (record := store.get_event(event.id)) is not None and record.processed_at is None:
            if not store.process_events(PROCESS_BATCH, engine.decide):
                break
        decisions = store.decisions_for(event.id)
        job_id = next((d.job_id for d in decisions if d.job_id), None)
        job = store.get_job(job_id) if job_id else None
        if job is None:
            lines = [
                DecisionLine(rule=d.rule, outcome=d.outcome.value, reason=d.reason)
                for d in decisions
            ]
            raise NoJobError(f"{event.tag} (event {event.id}, run in this process)", lines)
        return job

    async def _run(
        self, job: Job, definitions: Definitions, progress: Callable[[Progress], None]
    ) -> dict[str, Any]:
        runner = StoreRunner(self.store)
        try:
            claimed = await runner.call(self.store.claim_jobs, _owner(), 1, job.id)
            if not claimed:  # a daemon on the same store took it first: it runs there
                return await self._follow(runner, job.id)
            job, journal = claimed[0]
            journal = await self._execute(runner, job, journal, definitions, progress)
            completion = Completion(job_id=job.id, status=_status(journal), journal=journal)
            (finished,) = await runner.call(self.store.finish_jobs, [completion])
            return job_detail_view(finished, journal, None)
        finally:
            runner.stop()

    async def _execute(
        self,
        runner: StoreRunner,
        job: Job,
        journal: Journal,
        definitions: Definitions,
        progress: Callable[[Progress], None],
    ) -> Journal:
        # Metrics of a run here go nowhere (no scrape), nor do the schedules' intervals.
        hook_deps = wiring.hook_deps(self._deps, runner, CollectorRegistry(), definitions, ())

        async def save(latest: Journal) -> None:
            await runner.call(self.store.save_journals, [latest])

        context = ActionContext(
            env=job.env,
            dry_run=job.dry_run,
            job_id=job.id,
            resources=self.resources(job.env),
            progress=progress,
        )
        run = Run(job=job, runbook=definitions.runbooks.get(job.runbook), journal=journal,
                  context=context)  # fmt: skip
        deps = RunnerDeps(
            registry=self.registry,
            threads=ActionThreads(),
            save=save,
            stopping=lambda: False,
            hooks=family_hooks(hook_deps),
        )
        return await RunbookRunner(run, deps).execute()

    async def _follow(self, runner: StoreRunner, job_id: str) -> dict[str, Any]:
        while True:
            job = await runner.call(self.store.get_job, job_id)
            if job is not None and job.status.finished:
                journal = await runner.call(self.store.get_journal, job_id)
                return job_detail_view(job, journal, None)
            await asyncio.sleep(FOLLOW_SECONDS)


def _status(journal: Journal) -> JobStatus:
    return (journal.status or RunStatus.FAILED).job_status


def _owner() -> str:
    """Who holds a job run by the CLI (a daemon's node id is its host name)."""
    return f"{CLI_OWNER}:{socket.gethostname()}:{os.getpid()}"


def _orphaned(owner: str) -> bool:
    """Whether `owner` is a CLI process of this host that is gone."""
    kind, _, rest = owner.partition(":")
    host, _, pid = rest.rpartition(":")
    if kind != CLI_OWNER or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@contextlib.contextmanager
def local(config: Config) -> Iterator[Local]:
    wiring_ = Local(config)
    try:
        yield wiring_
    finally:
        wiring_.close()
