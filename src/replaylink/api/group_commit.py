"""Group commit: requests that arrive while a batch is being written go together into the next one.

A request hands its item to :meth:`GroupCommit.submit` and waits. If no batch is being written,
one starts at once with what is queued; every item queued meanwhile waits for the batch in flight
to finish, then goes in the next one. Under load a batch holds about as many items as requests
arrived during the previous batch's write, so the cost of a transaction (the write lock, the
worker-thread hand-off, the commit) is paid once per batch instead of once per request; a lone
request still goes at once, in a batch of one.

``write`` runs in a worker thread and answers one outcome per item, in order: a value or an
exception (only that item's request raises it). An exception of ``write`` itself fails every
item of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

Write = Callable[[Sequence[T]], Sequence[R | Exception]]
"""Writes a batch in a worker thread: one outcome per item, in order."""


@dataclass
class _Queue(Generic[T, R]):
    """What waits on one event loop (each loop has its own: test clients may start several)."""

    items: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


class GroupCommit(Generic[T, R]):
    """Queues items from concurrent requests and writes them in batches, one batch at a time."""

    def __init__(
        self,
        write: Write[T, R],
        turn: Callable[[], AbstractAsyncContextManager[object]],
        *,
        max_batch: int = 256,
    ) -> None:
        """``turn()`` is entered around each batch's write (e.g. the database's write gate)."""
        self._write = write
        self._turn = turn
        self._max_batch = max_batch
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next batch; its outcome once that batch is written."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[R] = loop.create_future()
        queue.items.append((item, future))
        if queue.writer is None:
            queue.writer = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue[T, R]) -> None:
        try:
            while queue.items:
                batch = queue.items[: self._max_batch]
                del queue.items[: self._max_batch]
                await self._write_batch(batch)
        finally:
            queue.writer = None

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            # This runs in the queue's own task: a request that gives up waiting cancels no batch.
            async with self._turn():
                outcomes = await anyio.to_thread.run_sync(self._write, items)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(outcomes)} outcomes")
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:  # the loop is shutting down: nobody may wait forever
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its request was cancelled
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def each_alone_on_failure(write: Write[T, R]) -> Write[T, R]:
    """``write``, and when a batch fails as a whole, each of its items again alone: a failure then
    belongs to the item that caused it, and the others are written."""

    def writing(items: Sequence[T]) -> Sequence[R | Exception]:
        try:
            return write(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            log.warning("a batch of %d failed (%r); writing each alone", len(items), exc)
        outcomes: list[R | Exception] = []
        for item in items:
            try:
                outcomes.extend(write([item]))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    return writing
