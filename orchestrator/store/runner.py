"""The daemon's side of the store: calls on one dedicated thread, and group commit.

The event loop never waits on the database: every store call runs on the store thread, in
rounds that commit once (`StoreRunner`). Hot writes also go through a `Batcher`: while one
call is in flight, new submissions queue up and the next call takes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

from orchestrator.store.base import Store, StoreUnwritableError

T = TypeVar("T")
R = TypeVar("R")


class StoreRunner:
    """Store calls on one thread, in rounds: every call queued while the previous round ran is
    made inside one `store.batch()`, so the round commits (and fsyncs) once. If a call in a
    round raises, the round is rolled back and its calls are made again one by one, so only
    the failing call's caller sees the error.

    `writable` turns False when a call finds that the store cannot write at all (disk full;
    `on_unwritable` is called for each such failure) and True again after `probe`."""

    def __init__(self, store: Store, on_unwritable: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.writable = True
        self._on_unwritable = on_unwritable
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="store", daemon=True)
        self._thread.start()

    async def call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put(_Call(partial(func, *args, **kwargs), future))
        return await future

    async def probe(self, size: int) -> bool:
        """Try a write of `size` bytes (the largest event: a store with room for a small
        write only is not ready); `writable` says whether it worked."""
        try:
            await self.call(self.store.probe_write, size)
        except StoreUnwritableError:
            return False
        self.writable = True
        return True

    def stop(self) -> None:
        """Finish the calls queued so far and end the thread (the store stays open)."""
        self._queue.put(None)
        self._thread.join()

    def close(self) -> None:
        self.stop()
        self.store.close()

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            round_ = [first]
            while not self._queue.empty() and len(round_) < MAX_ROUND:
                call = self._queue.get()
                if call is None:
                    self._run(round_)
                    return
                round_.append(call)
            self._run(round_)

    def _run(self, round_: list[_Call]) -> None:
        if len(round_) == 1:
            self._note(round_[0].run())
            return
        results: list[Any] = []
        try:
            with self.store.batch():
                results = [call.work() for call in round_]
        except Exception:
            for call in round_:  # rolled back: again, each in its own transaction
                self._note(call.run())
            return
        for call, result in zip(round_, results, strict=True):
            call.deliver(result, None)

    def _note(self, error: BaseException | None) -> None:
        if isinstance(error, StoreUnwritableError):
            self.writable = False
            self._on_unwritable()


MAX_ROUND = 64


class _Call:
    def __init__(self, work: Callable[[], Any], future: asyncio.Future[Any]) -> None:
        self.work = work
        self.future = future
        self.loop = future.get_loop()

    def run(self) -> BaseException | None:
        try:
            result, error = self.work(), None
        except Exception as exc:
            result, error = None, exc
        self.deliver(result, error)
        return error

    def deliver(self, result: Any, error: BaseException | None) -> None:
        # RuntimeError: the loop closed while the call ran (the daemon is exiting).
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Batcher(Generic[T, R]):
    """Group commit: `await submit(item)` returns once a `flush` that included the item has
    finished. `flush(items)` returns one result per item (an exception is raised to that
    item's caller alone); if it raises, every caller of that batch gets the exception."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[Sequence[R | Exception]]], max_batch: int = 1000
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def wait_idle(self) -> None:
        """Return once everything submitted so far has been flushed."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
