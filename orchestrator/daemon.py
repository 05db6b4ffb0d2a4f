"""Composition root: config -> metrics -> HTTP server, run until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web
from prometheus_client import CollectorRegistry

from orchestrator.config import Config
from orchestrator.http.app import build_app
from orchestrator.logs import get_logger
from orchestrator.metrics import Metrics

log = get_logger(__name__)


async def serve(config: Config, stop: asyncio.Event) -> None:
    """Serve until `stop` is set; the HTTP port is bound before this returns control."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics(CollectorRegistry())
    runner = web.AppRunner(build_app(metrics), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port)
    await site.start()
    log.info("listening", listen=config.http.listen, data_dir=str(config.data_dir))
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await runner.cleanup()


def run(config: Config) -> int:
    """Run the daemon in the foreground; return the process exit code."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(config, stop)

    asyncio.run(main())
    log.info("stopped")
    return 0
