"""The job worker: the process that runs jobs, apart from the intake.

The daemon (`fluxora-orch run`) starts it and is its only client: it decides events in its own
process and wakes this one when a rule fired; this one claims the jobs from the store, runs
their runbooks and publishes their completions. Two processes, so running jobs never holds the
interpreter the intake needs to accept and decide events (p99 event -> decision).

    python -m orchestrator.app.worker FD PARENT_PID    (started by the daemon only)

It dies with the daemon (a SIGKILLed daemon takes its worker along: the next start marks the
jobs it was running `interrupted` and runs their rollbacks), ignores SIGTERM/SIGINT (the
daemon stops it with a grace period), and answers the daemon's requests (`ipc`).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.app import ipc, wiring
from orchestrator.app.config import Config, node_id
from orchestrator.app.families import FAMILIES, builtin_registry, family_hooks, sweepers
from orchestrator.app.process import freeze_startup_objects
from orchestrator.app.resources import ResourceProvider
from orchestrator.core import logs
from orchestrator.core.children import PROCESS
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Completion, Journal
from orchestrator.core.leftovers import LeftoverLedger, sweep
from orchestrator.core.logs import get_logger
from orchestrator.engine.definitions import Definitions
from orchestrator.engine.executor.service import (
    EventPublisher,
    Executor,
    ExecutorSettings,
    JobStore,
)
from orchestrator.engine.metrics import JobMetrics
from orchestrator.engine.sources.salt import NullPublisher, SaltPublisher, master_opts
from orchestrator.store.runner import StoreRunner
from orchestrator.store.sql import SqlStore

log = get_logger("orchestrator.app.worker")  # also when run as __main__

PR_SET_PDEATHSIG = 1
EXIT_PARENT_GONE = 70


class IntakeJobStore:
    """The executor's `JobStore`: each call is made by the intake, in its store thread."""

    def __init__(self, channel: ipc.Channel, requests: ipc.Requests) -> None:
        self._channel = channel
        self._requests = requests

    async def claim_jobs(self, owner: str, limit: int) -> list[tuple[Job, Journal]]:
        return await self._call("claim_jobs", owner, limit)  # type: ignore[no-any-return]

    async def save_journals(self, journals: Sequence[Journal]) -> None:
        await self._call("save_journals", list(journals))

    async def finish_jobs(self, completions: Sequence[Completion]) -> list[Job]:
        return await self._call("finish_jobs", list(completions))  # type: ignore[no-any-return]

    async def interrupt_running(self, owner: str) -> list[tuple[Job, Journal]]:
        return await self._call("interrupt_running", owner)  # type: ignore[no-any-return]

    async def pending_rollbacks(self) -> list[tuple[Job, Journal]]:
        return await self._call("pending_rollbacks")  # type: ignore[no-any-return]

    async def _call(self, method: str, *args: Any) -> Any:
        return await self._requests.ask(
            self._channel, lambda ref: ipc.StoreCall(ref, method, args), timeout=None
        )


def build_executor(
    *,
    config: Config,
    definitions: Definitions,
    job_store: JobStore,
    store: SqlStore,
    runner: StoreRunner,
    publisher: EventPublisher,
    metrics: JobMetrics,
) -> Executor:
    """`job_store` for the executor's own calls (made by the intake); `store` and its `runner`
    for the families' resources and hooks."""
    resources = wiring.resource_deps(config, store, wiring.object_stores(config))
    scheduled = wiring.scheduled_runs(config, definitions)
    deps = wiring.hook_deps(resources, runner, metrics.registry, definitions, scheduled)
    leftovers = LeftoverLedger(leftovers_dir(config))
    sweep(leftovers, sweepers(resources), first=PROCESS)  # what a dead worker left, first
    return Executor(
        store=job_store,
        catalog=definitions.runbooks,
        registry=builtin_registry(),
        resources=ResourceProvider(FAMILIES, deps),
        metrics=metrics,
        publisher=publisher,
        settings=ExecutorSettings(
            node_id=node_id(config),
            max_jobs=config.executor.max_jobs,
            poll_seconds=config.executor.poll_seconds,
        ),
        hooks=family_hooks(deps),
        leftovers=leftovers,
    )


def leftovers_dir(config: Config) -> Path:
    """Where this node's job worker keeps its leftovers on record (one worker per node)."""
    return config.data_dir / "leftovers" / node_id(config)


async def serve(channel: ipc.Channel, config: Config) -> None:
    """Recover, say Ready, answer the daemon until it says Stop (or is gone)."""
    store = wiring.open_configured_store(config)
    runner = StoreRunner(store)
    salt_opts = master_opts(config.salt.master_config) if config.salt.master_config else None
    publisher = SaltPublisher(salt_opts) if salt_opts else NullPublisher()
    metrics = JobMetrics(CollectorRegistry())
    requests = ipc.Requests()
    try:
        executor = build_executor(
            config=config,
            definitions=wiring.definitions(config),
            job_store=IntakeJobStore(channel, requests),
            store=store,
            runner=runner,
            publisher=publisher,
            metrics=metrics,
        )
        stop: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        answering = asyncio.create_task(
            _answer(channel, requests, executor, metrics.registry, stop)
        )
        await executor.start()
        freeze_startup_objects()
        channel.send(ipc.Ready(os.getpid()))
        log.info("job worker ready", pid=os.getpid(), max_jobs=config.executor.max_jobs)
        await executor.stop(grace_seconds=await stop)  # answering goes on: stop needs the store
        channel.send(ipc.Stopped())
        answering.cancel()
    finally:
        publisher.close()
        runner.close()


async def _answer(
    channel: ipc.Channel,
    requests: ipc.Requests,
    executor: Executor,
    registry: CollectorRegistry,
    stop: asyncio.Future[float],
) -> None:
    """Until cancelled: answers, wakes, aborts, scrapes; Stop resolves `stop` (its grace)."""
    while True:
        message = await channel.receive()
        match message:
            case ipc.Reply():
                requests.answer(message)
            case ipc.Wake():
                executor.wake()
            case ipc.Abort(ref=ref, job_id=job_id, reason=reason):
                channel.send(ipc.Reply(ref, executor.abort(job_id, reason)))
            case ipc.Scrape(ref=ref):
                channel.send(ipc.Reply(ref, list(registry.collect())))
            case ipc.Stop(grace_seconds=grace):
                if not stop.done():
                    stop.set_result(grace)
            case ipc.Unreadable():
                pass  # logged by the channel
            case None:
                log.error("the daemon is gone; the job worker exits with it")
                os._exit(EXIT_PARENT_GONE)  # as if killed with it: no rollbacks, no final writes
            case _:
                log.error("unknown message from the daemon", kind=type(message).__name__)


def _die_with(parent_pid: int) -> None:
    """SIGKILL this process when the daemon dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the daemon died before prctl took effect
        os._exit(EXIT_PARENT_GONE)


def main(argv: list[str]) -> int:
    fd, parent_pid = int(argv[1]), int(argv[2])
    _die_with(parent_pid)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    try:
        return asyncio.run(_run(ipc.Channel(socket.socket(fileno=fd))))
    except Exception:
        log.exception("the job worker failed")
        return 1


async def _run(channel: ipc.Channel) -> int:
    await channel.open()
    start = await channel.receive()
    if not isinstance(start, ipc.Start):
        print("the job worker is started by `fluxora-orch run` only", file=sys.stderr)
        return 2
    logs.configure(start.log_level)
    await serve(channel, start.config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
