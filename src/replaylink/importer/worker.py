"""The importer loop: claim due integrations, poll them concurrently, renew leases, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from replaylink.importer import leases
from replaylink.importer.open_providers import OpenProviders
from replaylink.importer.poll import PollContext, PollResult, open_provider, poll_once
from replaylink.importer.seen_records import SeenRecords
from replaylink.replay.sweep import sweep
from replaylink.retention import purge
from replaylink.store.db import error_reason

log = logging.getLogger("replaylink.importer")
PURGE_EVERY = timedelta(hours=1)
CONCURRENCY = 64
"""Polls in flight per worker: most of a poll is waiting for the provider."""
DB_THREADS = 16
"""Threads per worker for the database work (at most this many of its connections in use)."""
CLAIM_WAIT = 0.25
CLAIM_RETRY_MAX = 30.0
"""Most seconds between claims while the database refuses them (from ``idle_sleep``, doubling)."""
"""Seconds a worker with free slots waits for more to free before claiming (batches claims)."""


GC_THRESHOLDS = (50_000, 20, 20)
"""The collector's thresholds in a worker process (Python's: 700, 10, 10)."""


def tune_gc() -> None:
    """Make a worker process's garbage collection cheap (call once, before the importer runs).

    With 64 polls in flight, Python's default thresholds collected the youngest generation every
    700 allocations: each collection walked the polls' live objects and promoted them, so full
    collections, which walk every open provider too, came every few seconds (18 % of a worker's
    CPU at 2,000 integrations). Objects alive at start are frozen out of every collection; the
    youngest generation is collected every 50,000 allocations (refcounting frees almost
    everything before then), the older ones more rarely.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Importer:
    """Polls every enabled integration on its schedule, sharing the work with other workers.

    ``stop()`` (or cancelling ``run()``) cancels in-flight polls: a chunk is committed
    whole or not at all, so a stop never leaves a partial window behind.

    Claims come in batches: a worker claims when a quarter of its slots are free, or
    ``claim_wait`` seconds after the first one freed, so a claim statement serves several polls.
    The database work runs on the worker's own ``db_threads`` threads (asyncio's default pool
    has ``cpu_count + 4``, six on two cores, for every poll in flight).
    """

    def __init__(
        self,
        ctx: PollContext,
        *,
        owner: str | None = None,
        concurrency: int = CONCURRENCY,
        idle_sleep: float = 1.0,
        db_threads: int = DB_THREADS,
        claim_wait: float = CLAIM_WAIT,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="importer-db")
        self.ctx = dataclasses.replace(ctx, executor=self._executor)
        self.owner = owner or worker_id()
        self.concurrency = concurrency
        self.claim_batch = max(1, concurrency // 4)
        self.claim_wait = claim_wait
        self.idle_sleep = idle_sleep
        self.lease_for = timedelta(seconds=ctx.settings.lease_seconds)
        self._stop = asyncio.Event()
        self._running: dict[int, asyncio.Task[PollResult]] = {}
        self._next_purge = ctx.clock()
        self.providers = OpenProviders(functools.partial(open_provider, ctx))
        """Each integration's provider, open between its polls (its HTTP client and connections)."""
        self.seen = SeenRecords()
        """The records this worker committed that later polls' windows read again."""
        self._claim_failures = 0

    def stop(self) -> None:
        self._stop.set()

    def _claim_failed(self, exc: SQLAlchemyError) -> float:
        """Log a claim the database refused (restarting, a dropped connection, a failover) and
        return the seconds to wait before the next: polls in flight go on, and the pool replaces
        dead connections at the next checkout."""
        self._claim_failures += 1
        delay = min(CLAIM_RETRY_MAX, self.idle_sleep * 2 ** (self._claim_failures - 1))
        log.warning("claiming due integrations failed (%s); retrying in %.1f s", error_reason(exc), delay)
        return delay

    async def run(self) -> None:
        log.info("importer %s started", self.owner)
        freed_at: float | None = None  # when a slot first freed since the last claim
        try:
            while not self._stop.is_set():
                await self._purge_when_due()
                free = self.concurrency - len(self._running)
                if free < self.claim_batch:
                    # Claim as soon as polls end, not after a flat pause (a pause per batch capped a
                    # worker at ~concurrency polls per idle_sleep), but a batch at a time.
                    if free and freed_at is None:
                        freed_at = time.monotonic()
                    waited = time.monotonic() - freed_at if freed_at is not None else 0.0
                    if not free or waited < self.claim_wait:
                        await self._slot_freed(self.claim_wait - waited if free else self.idle_sleep)
                        continue
                freed_at = None
                try:
                    started = await self.claim()
                except SQLAlchemyError as exc:
                    await self._pause(self._claim_failed(exc))
                    continue
                self._claim_failures = 0
                if not started:
                    await self._pause(self.idle_sleep)
        finally:
            await self._cancel_all()
            await self.providers.aclose()
            self._executor.shutdown(wait=False)
            log.info("importer %s stopped", self.owner)

    async def _purge_when_due(self) -> None:
        """Apply REPLAYLINK_RETENTION_DAYS once an hour (idempotent, so every worker may do it)."""
        now = self.ctx.clock()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        ctx = self.ctx
        try:
            done = await ctx.in_thread(
                purge, ctx.sessions, ctx.settings.retention_days, now, ctx.replay_store
            )
        except Exception:
            log.exception("retention purge failed; will retry in an hour")
            return
        if done.sessions or done.events:
            log.info("retention: purged %d sessions and %d backend events", done.sessions, done.events)
        if ctx.replay_store is None:
            return
        grace = timedelta(seconds=ctx.settings.replay_sweep_grace_seconds)
        try:
            swept = await ctx.in_thread(sweep, ctx.sessions, ctx.replay_store, grace, now)
        except Exception:
            log.exception("orphan replay blob sweep failed; will retry in an hour")
            return
        if swept.deleted:
            log.info("replay sweep: deleted %d unindexed blobs of %d", swept.deleted, swept.scanned)

    async def claim(self) -> list[asyncio.Task[PollResult]]:
        """Claim what is due and start polling it; returns the polls started."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return []
        now = self.ctx.clock()
        claimed = await self.ctx.in_thread(
            leases.claim_due, self.ctx.sessions, self.owner, now, free, self.lease_for
        )
        started = []
        for lease in claimed:
            task = asyncio.create_task(self._poll(lease), name=f"poll {lease.label}")
            self._running[lease.integration_id] = task
            started.append(task)
        return started

    async def _poll(self, lease: leases.Lease) -> PollResult:
        renewer = asyncio.create_task(self._renew(lease))
        try:
            return await poll_once(self.ctx, lease, self.providers, self.seen)
        except asyncio.CancelledError:
            await asyncio.shield(
                self.ctx.in_thread(leases.release, self.ctx.sessions, lease, self.ctx.clock())
            )
            raise
        finally:
            renewer.cancel()
            self._running.pop(lease.integration_id, None)

    async def _renew(self, lease: leases.Lease) -> None:
        """Keep the lease while a long poll runs; a lost lease cancels the poll."""
        interval = self.lease_for.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                until = self.ctx.clock() + self.lease_for
                await self.ctx.in_thread(leases.renew, self.ctx.sessions, lease, until)
            except leases.LeaseLost:
                log.warning("lost the lease on %s; cancelling its poll", lease.label)
                task = self._running.get(lease.integration_id)
                if task is not None:
                    task.cancel()
                return

    async def _slot_freed(self, seconds: float) -> None:
        """Wait until a running poll ends, a stop is asked for, or ``seconds`` pass."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait(
                [stopping, *self._running.values()], timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _cancel_all(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
