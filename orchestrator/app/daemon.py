"""Composition root: config -> store -> sources -> rules -> job worker -> HTTP, run until
SIGTERM or SIGINT. Components get what they need passed in; nothing reaches for globals.

Two processes: this one (the intake) accepts, commits and decides events and serves HTTP; the
job worker (`orchestrator.app.worker`, started and supervised here) runs the jobs. They
share the store; the intake wakes the worker when a rule fired and merges its metrics into
`/metrics`.

Start order: store (migrated), job worker (recovers interrupted jobs), processor (decides what
the inbox still holds), HTTP, schedules, Salt listener. Stop order: intake off (HTTP answers
503 on /events and /alertmanager, the Salt listener and schedules stop), commits in flight
finish, the processor finishes its batch, running steps get `shutdown_grace_seconds`, then
what is still running is marked `interrupted`. A start that fails after the job worker is up
(a taken port) stops in the same order, so the job worker has exited before the error is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry

from orchestrator.app import reachability, wiring
from orchestrator.app.config import Config, node_id
from orchestrator.app.process import file_handle_budget, freeze_startup_objects
from orchestrator.app.supervisor import JobWorker
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import utcnow
from orchestrator.core.jobs import JobStatus
from orchestrator.core.logs import get_logger
from orchestrator.engine.api.control import ControlRoutes
from orchestrator.engine.api.edge import Connections, Limits
from orchestrator.engine.api.routes import ApiRoutes
from orchestrator.engine.api.server import build_app
from orchestrator.engine.definitions import Definitions
from orchestrator.engine.inbox import Inbox, Processor
from orchestrator.engine.metrics import Metrics
from orchestrator.engine.sources.alertmanager import AlertmanagerSource
from orchestrator.engine.sources.salt import SaltListener, master_opts
from orchestrator.engine.sources.schedules import ScheduleDeps, ScheduleSource, jobstore_url
from orchestrator.engine.sources.webhook import WebhookSource
from orchestrator.store.runner import StoreRunner

log = get_logger(__name__)

MAINTENANCE_SECONDS = 60.0
STORE_PROBE_SECONDS = 1.0


@dataclass
class _State:
    ready: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Daemon:
    """The wired daemon; `serve` runs it until `stop` is set."""

    def __init__(self, config: Config, definitions: Definitions) -> None:
        self.config = config
        self.state = _State()
        self.metrics = Metrics(CollectorRegistry())
        store = wiring.open_configured_store(config)
        store.migrate()
        self.runner = StoreRunner(store, self.metrics.store_write_failures.inc)
        self.metrics.store_writable.set_function(lambda: float(self.runner.writable))
        self.salt_opts = (
            master_opts(config.salt.master_config) if config.salt.master_config else None
        )
        self.worker = JobWorker(config, self.runner, self.metrics, _log_level())
        self.metrics.registry.register(self.worker)
        engine = wiring.rule_engine(config, definitions)
        self.processor = Processor(self.runner, engine.decide, self.metrics, self.worker.wake)
        self.inbox = Inbox(self.runner, self.metrics, self.processor)
        self.schedules = ScheduleSource(
            definitions.schedules,
            ScheduleDeps(
                runner=self.runner,
                intake=self.inbox,
                metrics=self.metrics,
                jobstore_url=self._jobstore_url(),
                node_id=node_id(config),
            ),
        )
        self.salt_listener = self._salt_listener()
        self._announce(definitions)

    def _jobstore_url(self) -> str:
        url = self.config.store.url
        return jobstore_url(url.get_secret_value() if url else None, self.config.data_dir)

    def _salt_listener(self) -> SaltListener | None:
        if self.salt_opts is None:
            return None
        salt = self.config.salt
        return SaltListener(
            self.salt_opts, salt.tags, salt.exclude_tags, self.inbox.submit, self.inbox.reject
        )

    def _announce(self, definitions: Definitions) -> None:
        config = self.config
        log.info(
            "configured",
            env=config.env,
            node_id=node_id(config),
            store=self.runner.store.describe(),
            runbooks=len(definitions.runbooks),
            runbooks_dir=str(wiring.runbooks_dir(config)),
            rules=len(definitions.rules),
            schedules=len(definitions.schedules),
        )
        if self.salt_opts is None:
            log.warning("salt source off: no salt.master_config; job completions not published")
        if config.webhook.secret is None:
            log.warning("POST /events off: no webhook secret (FLUXORA_WEBHOOK_SECRET)")
        if config.alertmanager.token is None:
            log.warning("POST /alertmanager off: no token (FLUXORA_ALERTMANAGER_TOKEN)")

    def app(self) -> web.Application:
        routes = [
            *WebhookSource(self.inbox, self.config.webhook).routes(),
            *AlertmanagerSource(
                self.inbox,
                self.config.alertmanager,
                self.config.webhook.max_body_bytes,
                self.metrics.alerts_truncated,
            ).routes(),
            *ApiRoutes(self.runner).routes(),
            *ControlRoutes(
                self.worker.abort, self.runner, self.config.webhook, self.metrics.control_rejected
            ).routes(),
        ]
        return build_app(
            self.metrics,
            routes,
            ready=lambda: self.state.ready and self.worker.up and self.runner.writable,
            client_max_size=self.config.webhook.max_body_bytes,
            before_scrape=self.worker.scrape,
            body_timeout_seconds=self.config.http.body_timeout_seconds,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        with self.runner.store.housekeeping():
            try:
                await self.worker.start()
                await self.processor.start()
                async with self._serving():
                    yield
            finally:
                self.runner.close()

    @contextlib.asynccontextmanager
    async def _serving(self) -> AsyncIterator[None]:
        """A start that fails here (a taken port) runs the shutdown too: the operator's last
        line is the error, not the job worker dying with the daemon."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        listener: asyncio.Server | None = None
        try:
            listener = await self._listen(runner.server)
            await self._start_intake()
            log.info(
                "listening", listen=self.config.http.listen, data_dir=str(self.config.data_dir)
            )
            yield
        finally:
            await self._shutdown()
            if listener is not None:
                listener.close()
            await runner.cleanup()

    async def _start_intake(self) -> None:
        await self.schedules.start()
        if self.salt_listener is not None:
            self.salt_listener.start()
        self.state.tasks.append(asyncio.create_task(self._maintenance()))
        self.state.tasks.append(asyncio.create_task(self._watch_store()))
        self.state.tasks.append(asyncio.create_task(self._count_approvals()))
        self.state.tasks.append(asyncio.create_task(self._check_reachable()))
        freeze_startup_objects()
        self.state.ready = True

    async def _listen(self, server: web.Server | None) -> asyncio.Server:
        assert server is not None  # set up above
        http = self.config.http
        limits = Limits(
            max_connections=file_handle_budget(http.max_connections),
            header_timeout_seconds=http.header_timeout_seconds,
        )
        connections = Connections(server, limits, self.metrics)
        self.metrics.http_connections.set_function(connections.open_count)
        try:
            return await asyncio.get_running_loop().create_server(
                connections, http.host, http.port, reuse_address=True
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise FluxoraError(f"cannot listen on {http.listen}: {reason}") from exc

    async def _shutdown(self) -> None:
        log.info("stopping: intake off")
        self.state.ready = False
        self.inbox.accepting = False
        for task in self.state.tasks:
            task.cancel()
        if self.salt_listener is not None:
            await asyncio.to_thread(self.salt_listener.stop)
        await self.schedules.stop()
        await self.inbox.drain()
        await self.processor.stop()
        await self.worker.stop(self.config.shutdown_grace_seconds)

    async def _maintenance(self) -> None:
        window = timedelta(seconds=self.config.webhook.replay_window_seconds)
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            try:
                store = self.runner.store
                await self.runner.call(store.forget_signatures, utcnow() - window)
            except Exception:
                log.exception("maintenance failed")

    async def _check_reachable(self) -> None:
        """Warn about every configured database and object store that does not answer."""
        try:
            await asyncio.to_thread(reachability.warn_unreachable, self.config)
        except Exception:
            log.exception("checking the configured databases and object stores failed")

    async def _watch_store(self) -> None:
        """While the store cannot write (disk full), try a write as large as the largest event
        every STORE_PROBE_SECONDS: /readyz and `fluxora_store_writable` recover by themselves."""
        while True:
            await asyncio.sleep(STORE_PROBE_SECONDS)
            if self.runner.writable:
                continue
            if await self.runner.probe(self.config.webhook.max_body_bytes):
                log.warning("the store can write again")

    async def _count_approvals(self) -> None:
        """`fluxora_jobs_awaiting_approval` from the store (approvals come from the CLI)."""
        while True:
            await asyncio.sleep(self.config.executor.poll_seconds)
            try:
                store = self.runner.store
                counts = await self.runner.call(store.count_jobs, JobStatus.AWAITING_APPROVAL)
            except Exception:
                log.exception("counting jobs awaiting approval failed")
                continue
            gauge = self.metrics.jobs_awaiting_approval
            gauge.clear()
            for (_, env), count in counts.items():
                gauge.labels(env).inc(count)


def _log_level() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()


async def serve(config: Config, stop: asyncio.Event) -> None:
    """Serve until `stop` is set; the HTTP port is bound before this returns control."""
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    daemon = Daemon(config, wiring.definitions(config))
    async with daemon.running():
        await stop.wait()


def run(config: Config) -> int:
    """Run the daemon in the foreground; return the process exit code. What it creates (data
    dir, stores, objects, reports) is its user's alone: umask 077, like systemd's UMask=0077."""
    os.umask(0o077)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(config, stop)

    asyncio.run(main())
    log.info("stopped")
    return 0
