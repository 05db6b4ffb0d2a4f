"""The daemon's handle on its job worker process (`orchestrator.executor.worker`).

`start` spawns the worker and returns once it has recovered interrupted jobs and is ready;
`wake`, `abort` and `scrape` pass the intake's requests on; `stop` gives running steps their
grace. A worker that dies while the daemon runs is logged, counted
(`fluxora_job_worker_restarts_total`, `fluxora_job_worker_up` 0) and started again with a
growing back-off; the new one marks the dead one's jobs `interrupted` and runs their rollbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from prometheus_client.metrics_core import Metric

from orchestrator.config import Config
from orchestrator.errors import FluxoraError
from orchestrator.executor import ipc
from orchestrator.executor.service import AbortAnswer
from orchestrator.logs import get_logger
from orchestrator.metrics import Metrics

log = get_logger(__name__)

ANSWER_SECONDS = 5.0  # a scrape or an abort the worker has not answered by then
STOP_MARGIN_SECONDS = 10.0  # past the grace: the worker is killed
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class WorkerGone(Exception):
    """The worker exited (or was killed) before it answered."""


class JobWorker:
    """Also a prometheus collector: register it, call `scrape()` before each exposition."""

    def __init__(self, config: Config, metrics: Metrics, log_level: str) -> None:
        self._start = ipc.Start(config=config, log_level=log_level)
        self._metrics = metrics
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: ipc.Channel | None = None
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._refs = itertools.count(1)
        self._stopping = False
        self._stopped = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._families: list[Metric] = []

    @property
    def up(self) -> bool:
        return self._channel is not None

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """FluxoraError when the worker exits before it is ready (its log says why)."""
        await self._spawn()
        self._watch_task = asyncio.create_task(self._watch(), name="job-worker")

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        channel = self._channel
        if channel is not None and channel.send(ipc.Stop(grace_seconds)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), grace_seconds + STOP_MARGIN_SECONDS)
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        await self._reap()
        self._metrics.job_worker_up.set(0)

    # --- requests -------------------------------------------------------------------------------
    def wake(self) -> None:
        if self._channel is not None:
            self._channel.send(ipc.Wake())

    async def abort(self, job_id: str, reason: str) -> AbortAnswer:
        """NOT_RUNNING_HERE too when the worker is down (its jobs end `interrupted`)."""
        try:
            answer = await self._ask(lambda ref: ipc.Abort(ref, job_id, reason))
        except WorkerGone:
            return AbortAnswer.NOT_RUNNING_HERE
        assert isinstance(answer, AbortAnswer)
        return answer

    async def scrape(self) -> None:
        """Fetch the worker's metric families for the next `collect()`; none while it is down."""
        try:
            families = await self._ask(ipc.Scrape)
        except WorkerGone:
            log.warning("the job worker did not answer a scrape: its metrics are left out")
            self._families = []
            return
        self._families = list(families) if isinstance(families, list) else []

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    async def _ask(self, request: Callable[[int], object]) -> object:
        """Send `request(ref)`, wait for the Reply; WorkerGone if none comes."""
        channel = self._channel
        if channel is None:
            raise WorkerGone
        ref = next(self._refs)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            if not channel.send(request(ref)):
                raise WorkerGone
            return await asyncio.wait_for(future, ANSWER_SECONDS)
        except TimeoutError:
            raise WorkerGone from None
        finally:
            self._pending.pop(ref, None)

    # --- the process ----------------------------------------------------------------------------
    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.executor.worker", str(fd), str(os.getpid())],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
            )
        channel = ipc.Channel(Connection(ours.detach()))
        channel.attach()
        channel.send(self._start)
        ready = await channel.receive()
        if not isinstance(ready, ipc.Ready):
            channel.close()
            code = await self._reap()
            raise FluxoraError(
                f"the job worker exited before it was ready (exit code {code}; its log says why)"
            )
        self._channel = channel
        self._metrics.job_worker_up.set(1)
        log.info("job worker started", pid=ready.pid)

    async def _watch(self) -> None:
        failures = 0
        while True:
            assert self._channel is not None
            message = await self._channel.receive()
            if message is None:
                if self._stopping:
                    return
                failures = await self._restart(failures)
                continue
            failures = 0
            self._dispatch(message)

    def _dispatch(self, message: object) -> None:
        if isinstance(message, ipc.Reply):
            future = self._pending.get(message.ref)
            if future is not None and not future.done():
                future.set_result(message.value)
        elif isinstance(message, ipc.Stopped):
            self._stopped.set()

    async def _restart(self, failures: int) -> int:
        """The worker died: count it, start another (after a back-off) until one is ready."""
        self._lost()
        code = await self._reap()
        self._metrics.job_worker_restarts.inc()
        while True:
            delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
            log.error("the job worker died; starting another", exit_code=code, after_s=delay)
            await asyncio.sleep(delay)
            failures += 1
            try:
                await self._spawn()
            except FluxoraError as exc:
                code = None
                log.warning("the job worker did not start", reason=str(exc))
                continue
            return failures

    def _lost(self) -> None:
        self._metrics.job_worker_up.set(0)
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerGone())

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
