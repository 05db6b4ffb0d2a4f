"""The inbox (commit before acknowledging, dedup by id) and the processor that decides.

Sources call `Inbox.submit`; it returns once the event is durably committed (group commit:
one transaction for everything that arrived meanwhile). The same transaction decides: the
processor takes the unprocessed events oldest first (the new ones included), asks the rules,
and stores every decision with the jobs they create, so an event is decided by the time it is
acknowledged and never waits for another round of the store (or behind running jobs). Deciding
runs inside a savepoint: if it fails, the events still commit and the processor's own loop
retries; that loop also decides what a restart left unprocessed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from orchestrator.core.decisions import Decide, Processed
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import EventSource, utcnow
from orchestrator.core.inbox import Admission, Submission
from orchestrator.core.jobs import JobStatus
from orchestrator.core.logs import get_logger
from orchestrator.engine.metrics import Metrics
from orchestrator.store.base import StoreUnwritableError
from orchestrator.store.runner import Batcher, StoreRunner

log = get_logger(__name__)

PROCESS_BATCH = 500


class EventNotStoredError(FluxoraError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"the store could not save event {event_id!r}")


RETRY_SECONDS = 1.0


class Inbox:
    def __init__(self, runner: StoreRunner, metrics: Metrics, processor: Processor):
        self._runner = runner
        self._metrics = metrics
        self._processor = processor
        self._batcher: Batcher[Submission, Admission] = Batcher(self._flush)
        self.accepting = True

    async def _flush(self, submissions: list[Submission]) -> Sequence[Admission | Exception]:
        admissions, processed = await self._runner.call(self._commit, submissions)
        for submission, admission in zip(submissions, admissions, strict=True):
            if admission is Admission.ACCEPTED:
                self._metrics.events_received.labels(submission.event.source.value).inc()
                self._metrics.inbox_depth.inc()
        self._processor.account(processed)
        return admissions

    def _commit(
        self, submissions: list[Submission]
    ) -> tuple[list[Admission | Exception], list[Processed] | None]:
        """On the store thread: the events and their decisions, in one transaction."""
        store = self._runner.store
        with store.batch():
            return self._add(submissions), self._processor.decide_in_transaction()

    def _add(self, submissions: list[Submission]) -> list[Admission | Exception]:
        """Under a savepoint; if the store refuses the group, each event alone, so the one it
        cannot save fails its own request only (a store that cannot write fails them all)."""
        store = self._runner.store
        try:
            with store.savepoint():
                return list(store.add_events(submissions))
        except StoreUnwritableError:
            raise
        except Exception as exc:
            if len(submissions) == 1:
                event = submissions[0].event
                log.exception(
                    "the store refused an event",
                    event_id=event.id,
                    source=event.source.value,
                    error=type(exc).__name__,
                )
                return [EventNotStoredError(event.id)]
        return [answer for one in submissions for answer in self._add([one])]

    async def submit(self, submission: Submission) -> Admission:
        return await self._batcher.submit(submission)

    def reject(self, source: EventSource, reason: str) -> None:
        """Count a refused event (`fluxora_events_rejected_total{source,reason}`)."""
        self._metrics.events_rejected.labels(source.value, reason).inc()

    async def drain(self) -> None:
        await self._batcher.wait_idle()


class Processor:
    """Decides committed events, oldest first, until the inbox is empty; then waits."""

    def __init__(
        self,
        runner: StoreRunner,
        decide: Decide,
        metrics: Metrics,
        on_jobs: Callable[[], None],
    ) -> None:
        self._runner = runner
        self._decide = decide
        self._metrics = metrics
        self._on_jobs = on_jobs
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def decide_in_transaction(self) -> list[Processed] | None:
        """On the store thread, inside the caller's transaction: decide a batch under a
        savepoint. None when that failed (rolled back to the savepoint; the loop retries)."""
        store = self._runner.store
        try:
            with store.savepoint():
                return store.process_events(PROCESS_BATCH, self._decide)
        except Exception:
            log.exception("deciding at intake failed; retrying")
            return None

    def account(self, processed: Sequence[Processed] | None) -> None:
        """Metrics for what `decide_in_transaction` decided (now committed); the loop takes
        over after a failure or when more than a batch was waiting."""
        if processed is None or len(processed) == PROCESS_BATCH:
            self.wake()
        if processed:
            self._account(processed, utcnow())

    async def start(self) -> None:
        depth = await self._runner.call(self._runner.store.unprocessed_count)
        self._metrics.inbox_depth.set(depth)
        if depth:
            log.info("processing events left in the inbox", count=depth)
        self._task = asyncio.create_task(self._loop(), name="processor")
        self.wake()

    async def stop(self) -> None:
        """Finish the batch in progress (its transaction commits or rolls back whole)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while await self._batch():
                pass

    async def _batch(self) -> bool:
        try:
            processed = await asyncio.shield(
                self._runner.call(self._runner.store.process_events, PROCESS_BATCH, self._decide)
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("processing events failed; retrying")
            await asyncio.sleep(RETRY_SECONDS)
            return True
        self._account(processed, utcnow())
        return len(processed) == PROCESS_BATCH

    def _account(self, processed: Sequence[Processed], now: datetime) -> None:
        jobs = False
        for item in processed:
            self._metrics.event_decision_seconds.observe(
                max(0.0, (now - item.event.received_at).total_seconds())
            )
            for decision in item.decisions:
                self._metrics.rule_decisions.labels(decision.rule, decision.outcome.value).inc()
            for job in item.jobs:
                jobs = True
                if job.status is JobStatus.AWAITING_APPROVAL:
                    self._metrics.jobs_awaiting_approval.labels(job.env).inc()
        self._metrics.inbox_depth.dec(len(processed))
        if jobs:
            self._on_jobs()
