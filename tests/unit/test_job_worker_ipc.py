"""What the intake and its job worker say to each other: the channel, requests and answers,
and the intake making only the job-store calls the worker may ask for."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.app import ipc
from orchestrator.app.config import Config
from orchestrator.app.supervisor import JobWorker
from orchestrator.engine.metrics import Metrics
from orchestrator.store import open_store
from orchestrator.store.runner import StoreRunner


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (fixtures pass through)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def _pair() -> tuple[ipc.Channel, Connection]:
    """A channel (this process's end) and a plain blocking connection as the other process."""
    ours, theirs = socket.socketpair()
    channel = ipc.Channel(ours)
    await channel.open()
    return channel, Connection(theirs.detach())


@in_loop
async def test_a_channel_delivers_messages_in_order_and_none_when_the_other_end_is_gone() -> None:
    channel, other = await _pair()
    other.send(ipc.Wake())
    other.send(ipc.Scrape(7))
    assert await channel.receive() == ipc.Wake()
    assert await channel.receive() == ipc.Scrape(7)
    other.close()
    assert await channel.receive() is None
    channel.close()
    assert channel.send(ipc.Wake()) is False


@in_loop
async def test_an_unreadable_message_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, other = await _pair()
    other.send_bytes(b"not a pickle")
    other.send(ipc.Wake())
    unreadable = await channel.receive()
    assert isinstance(unreadable, ipc.Unreadable)
    assert await channel.receive() == ipc.Wake()
    assert "unreadable message from the other process" in caplog.text
    channel.close()
    other.close()


@in_loop
async def test_a_request_gets_its_own_answer_or_its_error() -> None:
    channel, other = await _pair()
    requests = ipc.Requests()
    first = asyncio.create_task(requests.ask(channel, ipc.Scrape, timeout=5))
    second = asyncio.create_task(requests.ask(channel, ipc.Scrape, timeout=5))
    await asyncio.sleep(0)  # both sent
    sent = [other.recv(), other.recv()]
    requests.answer(ipc.Reply(sent[1].ref, "second"))
    requests.answer(ipc.Reply(sent[0].ref, None, ipc.RemoteError("JobStateError: finished")))
    assert await second == "second"
    with pytest.raises(ipc.RemoteError, match="JobStateError: finished"):
        await first
    channel.close()
    other.close()


@in_loop
async def test_a_request_fails_when_the_other_side_is_gone_or_silent() -> None:
    requests = ipc.Requests()
    with pytest.raises(ipc.ChannelClosed):
        await requests.ask(None, ipc.Scrape, timeout=5)
    channel, other = await _pair()
    with pytest.raises(ipc.ChannelClosed):
        await requests.ask(channel, ipc.Scrape, timeout=0.05)  # nobody answers
    waiting = asyncio.create_task(requests.ask(channel, ipc.Scrape, timeout=None))
    await asyncio.sleep(0)
    requests.fail_all()  # what the intake does when the worker dies
    with pytest.raises(ipc.ChannelClosed):
        await waiting
    channel.close()
    other.close()


@in_loop
async def test_the_intake_makes_only_job_store_calls_for_the_worker(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    store = open_store(None, tmp_path)
    store.migrate()
    runner = StoreRunner(store)
    worker = JobWorker(config, runner, Metrics(CollectorRegistry()), "info")
    channel, other = await _pair()
    try:
        await worker._store_call(channel, ipc.StoreCall(1, "migrate", ()))
        refused = other.recv()
        assert refused.ref == 1
        assert str(refused.error) == "not a job-store call: 'migrate'"

        await worker._store_call(channel, ipc.StoreCall(2, "claim_jobs", ("node", 5)))
        assert other.recv() == ipc.Reply(2, [])

        await worker._store_call(channel, ipc.StoreCall(3, "claim_jobs", ("node",)))
        failed = other.recv()
        assert isinstance(failed.error, ipc.RemoteError)
        assert str(failed.error).startswith("TypeError: ")
    finally:
        channel.close()
        other.close()
        runner.close()
