"""The daemon's handle on its job worker process (`orchestrator.app.worker`).

`start` spawns the worker and returns once it has recovered interrupted jobs and is ready;
`wake`, `abort` and `scrape` pass the intake's requests on; the worker's job-store calls are
made here, in the intake's store thread (`ipc.StoreCall`); `stop` gives running steps their
grace. A worker that dies while the daemon runs is logged, counted
(`fluxora_job_worker_restarts_total`, `fluxora_job_worker_up` 0) and started again with a
growing back-off; the new one marks the dead one's jobs `interrupted` and runs their rollbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric

from orchestrator.app import ipc
from orchestrator.app.config import Config
from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.engine.executor.service import AbortAnswer
from orchestrator.engine.metrics import Metrics
from orchestrator.store.runner import StoreRunner

log = get_logger(__name__)

ANSWER_SECONDS = 5.0  # a scrape or an abort the worker has not answered by then
STOP_MARGIN_SECONDS = 10.0  # past the grace: the worker is killed
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class JobWorker:
    """Also a prometheus collector: register it, call `scrape()` before each exposition."""

    def __init__(
        self, config: Config, runner: StoreRunner, metrics: Metrics, log_level: str
    ) -> None:
        self._start = ipc.Start(config=config, log_level=log_level)
        self._runner = runner
        self._metrics = metrics
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: ipc.Channel | None = None
        self._requests = ipc.Requests()
        self._ready: asyncio.Future[int] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # store calls, restarts in flight
        self._families: list[Metric] = []

    @property
    def up(self) -> bool:
        return self._channel is not None and self._ready is not None and self._ready.done()

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """FluxoraError when the worker exits before it is ready (its log says why)."""
        await self._spawn()

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        channel = self._channel
        if channel is not None and channel.send(ipc.Stop(grace_seconds)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), grace_seconds + STOP_MARGIN_SECONDS)
        # The worker has stopped (or had its time): what is left is a restart waiting out
        # its back-off, or store calls nobody waits for any more.
        tasks = [*self._tasks, *([self._watch_task] if self._watch_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._reap()
        self._metrics.job_worker_up.set(0)

    # --- requests -------------------------------------------------------------------------------
    def wake(self) -> None:
        if self._channel is not None:
            self._channel.send(ipc.Wake())

    async def abort(self, job_id: str, reason: str) -> AbortAnswer:
        """NOT_RUNNING_HERE too when the worker is down (its jobs end `interrupted`)."""
        try:
            answer = await self._requests.ask(
                self._channel, lambda ref: ipc.Abort(ref, job_id, reason), ANSWER_SECONDS
            )
        except ipc.ChannelClosed:
            return AbortAnswer.NOT_RUNNING_HERE
        assert isinstance(answer, AbortAnswer)
        return answer

    async def scrape(self) -> None:
        """Fetch the worker's metric families for the next `collect()`; none while it is down."""
        try:
            families = await self._requests.ask(self._channel, ipc.Scrape, ANSWER_SECONDS)
        except ipc.ChannelClosed:
            log.warning("the job worker did not answer a scrape: its metrics are left out")
            families = []
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    async def _store_call(self, channel: ipc.Channel, call: ipc.StoreCall) -> None:
        if call.method not in ipc.JOB_STORE_CALLS:
            error = ipc.RemoteError(f"not a job-store call: {call.method!r}")
            channel.send(ipc.Reply(call.ref, None, error))
            return
        try:
            method = getattr(self._runner.store, call.method)
            value = await self._runner.call(method, *call.args)
        except Exception as exc:  # the worker's caller gets it, as if it had called the store
            log.exception("a job-store call of the job worker failed", method=call.method)
            channel.send(ipc.Reply(call.ref, None, ipc.RemoteError.of(exc)))
            return
        channel.send(ipc.Reply(call.ref, value))

    # --- the process ----------------------------------------------------------------------------
    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.app.worker", str(fd), str(os.getpid())],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
            )
        channel = ipc.Channel(ours)
        await channel.open()
        channel.send(self._start)
        self._channel = channel
        self._ready = asyncio.get_running_loop().create_future()
        self._watch_task = asyncio.create_task(self._watch(channel), name="job-worker")
        try:
            pid = await self._ready
        except ipc.ChannelClosed:
            code = await self._reap()
            raise FluxoraError(
                f"the job worker exited before it was ready (exit code {code}; its log says why)"
            ) from None
        self._metrics.job_worker_up.set(1)
        log.info("job worker started", pid=pid)

    async def _watch(self, channel: ipc.Channel) -> None:
        """Answer one worker until it is gone; then start another unless stopping."""
        while (message := await channel.receive()) is not None:
            self._dispatch(channel, message)
        self._lost(channel)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ipc.ChannelClosed())  # `_spawn` reports it
        elif not self._stopping:
            self._spawn_task(self._restart())

    def _dispatch(self, channel: ipc.Channel, message: object) -> None:
        match message:
            case ipc.StoreCall():
                self._spawn_task(self._store_call(channel, message))
            case ipc.Reply():
                self._requests.answer(message)
            case ipc.Ready(pid=pid):
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(pid)
            case ipc.Stopped():
                self._stopped.set()
            case ipc.Unreadable():
                pass  # logged by the channel
            case _:
                log.error("unknown message from the job worker", kind=type(message).__name__)

    def _spawn_task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self) -> None:
        """The worker died: count it, start another (after a back-off) until one is ready."""
        code = await self._reap()
        self._metrics.job_worker_restarts.inc()
        for attempt in range(sys.maxsize):
            delay = RESTART_BACKOFF_SECONDS[min(attempt, len(RESTART_BACKOFF_SECONDS) - 1)]
            log.error("the job worker died; starting another", exit_code=code, after_s=delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn()
            except FluxoraError as exc:
                code = None
                log.warning("the job worker did not start", reason=str(exc))
                continue
            return

    def _lost(self, channel: ipc.Channel) -> None:
        self._metrics.job_worker_up.set(0)
        channel.close()
        self._channel = None
        self._requests.fail_all()

    async def _reap(self) -> int | None:
        """Wait for the worker to exit (kill it if it does not); its exit code."""
        process = self._process
        if process is None:
            return None
        try:
            return await asyncio.to_thread(process.wait, STOP_MARGIN_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("the job worker does not exit; killing it", pid=process.pid)
            process.kill()
            return await asyncio.to_thread(process.wait)
