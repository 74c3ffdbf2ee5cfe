"""GroupCommit: what arrives during a batch's write goes into the next batch; failures stay per item."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from replaylink.api.group_commit import GroupCommit, each_alone_on_failure


@asynccontextmanager
async def no_turn() -> AsyncIterator[None]:
    yield


class Writer:
    """Records each batch; the first batch's write waits until ``release`` is set."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.writing = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.writing.set()
            assert self.release.wait(10)
        if self.fail_on in items:
            raise RuntimeError(f"item {self.fail_on} is refused")
        return [item * 10 for item in items]


async def submit_while_first_is_written(commit: GroupCommit[int, int], writer: Writer) -> list[object]:
    """Item 0 alone, then 1..19 while 0's batch is being written."""
    first = asyncio.create_task(commit.submit(0))
    while not writer.writing.is_set():
        await asyncio.sleep(0.001)
    rest = [asyncio.create_task(commit.submit(i)) for i in range(1, 20)]
    await asyncio.sleep(0)  # all queued
    writer.release.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_items_queued_during_a_write_go_together_in_the_next_batch() -> None:
    writer = Writer()
    results = asyncio.run(submit_while_first_is_written(GroupCommit(writer, no_turn), writer))
    assert results == [i * 10 for i in range(20)]
    assert writer.batches == [[0], list(range(1, 20))]


def test_batches_hold_at_most_max_batch_items() -> None:
    writer = Writer()
    commit = GroupCommit(writer, no_turn, max_batch=8)
    results = asyncio.run(submit_while_first_is_written(commit, writer))
    assert results == [i * 10 for i in range(20)]
    assert writer.batches == [[0], list(range(1, 9)), list(range(9, 17)), list(range(17, 20))]


def test_a_failing_item_fails_alone_when_each_is_written_again() -> None:
    writer = Writer(fail_on=7)
    commit = GroupCommit(each_alone_on_failure(writer), no_turn)
    results = asyncio.run(submit_while_first_is_written(commit, writer))
    failed = [r for r in results if isinstance(r, Exception)]
    assert [str(e) for e in failed] == ["item 7 is refused"]
    assert [r for r in results if not isinstance(r, Exception)] == [i * 10 for i in range(20) if i != 7]
    assert writer.batches[1] == list(range(1, 20))  # the batch, then each of its items alone
    assert writer.batches[2:] == [[i] for i in range(1, 20)]


def test_a_batch_that_fails_as_a_whole_fails_each_request() -> None:
    writer = Writer(fail_on=3)
    results = asyncio.run(submit_while_first_is_written(GroupCommit(writer, no_turn), writer))
    assert results[0] == 0
    assert all(isinstance(r, RuntimeError) for r in results[1:])


def test_outcomes_that_are_exceptions_are_raised_to_their_request_only() -> None:
    def write(items: Sequence[int]) -> list[int | Exception]:
        return [ValueError(f"no {i}") if i % 2 else i for i in items]

    async def run() -> list[object]:
        commit = GroupCommit(write, no_turn)
        return list(await asyncio.gather(*(commit.submit(i) for i in range(6)), return_exceptions=True))

    results = asyncio.run(run())
    assert [r if isinstance(r, int) else str(r) for r in results] == [0, "no 1", 2, "no 3", 4, "no 5"]


def test_each_event_loop_has_its_own_queue() -> None:
    commit: GroupCommit[int, int] = GroupCommit(lambda items: list(items), no_turn)
    assert asyncio.run(commit.submit(1)) == 1
    assert asyncio.run(commit.submit(2)) == 2  # a new loop: nothing waits on the closed one


@pytest.mark.parametrize("count", [1, 3])
def test_the_turn_is_held_around_each_write(count: int) -> None:
    held: list[bool] = []
    inside = False

    @asynccontextmanager
    async def turn() -> AsyncIterator[None]:
        nonlocal inside
        inside = True
        yield
        inside = False

    def write(items: Sequence[int]) -> list[int | Exception]:
        held.append(inside)
        return list(items)

    async def run() -> list[int]:
        commit = GroupCommit(write, turn)
        return list(await asyncio.gather(*(commit.submit(i) for i in range(count))))

    assert asyncio.run(run()) == list(range(count))
    assert held and all(held)


def test_a_cancelled_batch_cancels_its_requests_instead_of_leaving_them_waiting() -> None:
    writer = Writer()

    async def run() -> list[object]:
        commit = GroupCommit(writer, no_turn)
        waiting = [asyncio.create_task(commit.submit(i)) for i in range(3)]
        while not writer.writing.is_set():
            await asyncio.sleep(0.001)
        queue = next(iter(commit._queues.values()))
        assert queue.writer is not None
        queue.writer.cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        writer.release.set()
        return list(results)

    assert all(isinstance(r, asyncio.CancelledError) for r in asyncio.run(run()))
