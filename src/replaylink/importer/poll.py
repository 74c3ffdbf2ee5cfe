"""One poll of one integration.

The window is ``[checkpoint - overlap - settle, now)``, cut into chunks of at most
``max_window``. Each chunk's events, the new checkpoint (the chunk's end) and the health
counters are committed in one transaction whose last statement re-checks the lease (a lost
lease rolls the chunk back), so a crash or a stop repeats a chunk and never skips one, and the
unique key makes repeats harmless. A chunk with nothing new to store (most polls: nothing found,
or only records the worker already committed) commits one statement.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Executable, Integer, bindparam
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from replaylink.config import Settings
from replaylink.importer import metrics
from replaylink.importer.correlate import MAX_SAMPLES, Correlation, Verifier, attach, verify_records
from replaylink.importer.leases import Lease, LeaseLost, execute_held, held_update, lock_for_commit
from replaylink.importer.one_statement import one_statement
from replaylink.importer.open_providers import OpenProviders
from replaylink.importer.seen_records import SeenRecords
from replaylink.integrations.connect import open_stored
from replaylink.integrations.failures import describe, provider_label
from replaylink.integrations.settings import InvalidSettings
from replaylink.providers.base import Provider, ProviderError, Query, Record
from replaylink.replay.store import ReplayStore
from replaylink.store.counted_records import first_counts, forgetting
from replaylink.store.db import error_reason
from replaylink.store.events import insert_events, session_windows, without_detached_copies
from replaylink.store.models import Integration
from replaylink.tokens import TokenSigner
from replaylink.vault import Vault, VaultError

log = logging.getLogger("replaylink.importer")

Clock = Callable[[], datetime]
P = ParamSpec("P")
T = TypeVar("T")
MAX_WINDOW = timedelta(hours=1)
PAGE_SIZE = 1000
MAX_CHUNK_RECORDS = 200_000
"""Records a poll holds at once: a chunk that has more is read again as its two halves (down to
``MIN_CHUNK``), so a burst costs round trips, not memory, and a provider whose pages never end
(a cursor that changes forever) is an error in the integration's health, not a worker that grows
until it is killed."""
MIN_CHUNK = timedelta(seconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PollContext:
    """What every poll needs from the process."""

    sessions: sessionmaker[Session]
    settings: Settings
    signer: TokenSigner
    vault: Vault
    clock: Clock = utcnow
    max_window: timedelta = MAX_WINDOW
    max_chunk_records: int = MAX_CHUNK_RECORDS
    replay_store: ReplayStore | None = None
    """Where recordings live: retention deletes their blobs, the hourly sweep their orphans."""
    executor: Executor | None = None
    """The threads that run the database work (a worker's own pool; None: the loop's default)."""

    async def in_thread(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking (database) work on :attr:`executor`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    @property
    def behind(self) -> timedelta:
        """How far behind its checkpoint a poll reads again: ``overlap + settle``."""
        return timedelta(seconds=self.settings.overlap_seconds + self.settings.settle_seconds)


@dataclass
class PollResult:
    outcome: str
    """ok, rate_limited, error, needs_attention, lease_lost"""
    scanned: int = 0
    imported: int = 0
    error: str | None = None


def window(lease: Lease, ctx: PollContext, now: datetime) -> tuple[datetime, datetime]:
    """``[checkpoint - overlap - settle, now)``; the initial look-back only without a checkpoint.

    A poll reads up to now, so a record is imported by the first poll after it becomes searchable;
    what the provider indexes late (up to overlap + settle behind the checkpoint, as before when
    the window ended at ``now - settle``) is read again by the next polls, and the unique key
    stores it once. After an outage of any length the window resumes at the checkpoint (nothing
    is dropped), bounded only by the retention period (older events would be purged at once).
    """
    s = ctx.settings
    if lease.checkpoint is None:
        start = now - timedelta(seconds=s.initial_lookback_seconds)
    else:
        start = max(lease.checkpoint - ctx.behind, now - timedelta(days=s.retention_days))
    return start, now


def chunks(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    while start < end:
        stop = min(start + size, end)
        out.append((start, stop))
        start = stop
    return out


async def fetch(
    provider: Provider, start: datetime, end: datetime, most: int = MAX_CHUNK_RECORDS
) -> list[Record]:
    """Every error record in ``[start, end)`` that carries the marker; at most ``most`` + 1 (one
    more says there are more than ``most``)."""
    began = time.perf_counter()
    records: list[Record] = []
    query = Query(start=start, end=end, errors_only=True, page_size=PAGE_SIZE, limit=most + 1)
    try:
        async for record in provider.search(query):
            records.append(record)
            if len(records) > most:  # whatever the provider makes of the limit
                break
        return records
    finally:
        metrics.PROVIDER_LATENCY.labels(provider.name).observe(time.perf_counter() - began)


async def fetch_parts(
    provider: Provider, parts: list[tuple[datetime, datetime]], most: int
) -> AsyncIterator[tuple[datetime, list[Record], bool]]:
    """Each part's end, its records, and whether it is the last, in order. A part with more than
    ``most`` records is read again as its two halves, down to ``MIN_CHUNK``, past which it is an
    error."""
    pending = parts[::-1]  # a stack: the next part last
    while pending:
        start, end = pending.pop()
        records = await fetch(provider, start, end, most) if start < end else []
        if len(records) <= most:
            yield end, records, not pending
            continue
        if end - start <= MIN_CHUNK:
            raise ProviderError(
                f"{provider.label} returned more than {most:,} records for {start.isoformat()} to "
                f"{end.isoformat()}; ReplayLink reads at most that many at once. Check that its "
                "query matches error logs only (it keeps answering further pages)."
            )
        middle = start + (end - start) / 2
        pending += [(middle, end), (start, middle)]


def store_records(
    db: Session,
    ctx: PollContext,
    *,
    project_id: int,
    integration_id: int,
    provider: str,
    created_at: datetime,
    records: list[Record],
    now: datetime,
    count_once: bool = False,
) -> tuple[Correlation, int]:
    """Correlate records and insert the events they make, inside the caller's transaction.

    Returns the correlation and how many events were new. With ``count_once`` (the poller's
    overlapping windows) the correlation counts and samples only the record outcomes this
    integration never counted before, so re-read records leave its health counters alone.
    ``created_at``: the integration's; records before it that a deleted integration already
    stored are not stored again (``events.without_detached_copies``).
    """
    result = Correlation()
    candidates = verify_records(records, Verifier(ctx.signer, project_id, now), result)
    windows = session_windows(db, (c.data.session_id for c in candidates))
    attach(
        candidates,
        windows,
        project_id=project_id,
        integration_id=integration_id,
        provider=provider,
        grace=timedelta(seconds=ctx.settings.expired_grace_seconds),
        result=result,
        imported_at=now,
    )
    rows = without_detached_copies(
        db, result.rows, project_id=project_id, provider=provider, before=created_at
    )
    imported = insert_events(db, rows)
    if count_once:
        result = result.only(first_counts(db, integration_id, result.sightings()))
    metrics.count_correlation(provider, result, imported)
    return result, imported


@dataclass
class HealthCounts:
    """An integration's token outcomes and rejected samples as its lease holder last committed
    them: the claim's snapshot, then each committed chunk (nobody else writes them meanwhile)."""

    outcomes: dict[str, int]
    samples: list[dict[str, Any]]

    @classmethod
    def of(cls, lease: Lease) -> HealthCounts:
        return cls(dict(lease.outcomes), list(lease.rejected_samples))


def store_chunk(
    ctx: PollContext,
    lease: Lease,
    records: list[Record],
    checkpoint: datetime,
    finished: bool,
    now: datetime,
    counts: HealthCounts | None = None,
) -> Correlation:
    """Commit one chunk's events with its checkpoint and health counters; raises LeaseLost
    (committing nothing) if the lease is gone.

    The events go first and the integration's row last, in one UPDATE that re-checks the
    lease: a lost lease rolls the whole chunk back. Without records, that UPDATE is all.
    """
    counts = counts if counts is not None else HealthCounts.of(lease)
    if not records:
        with one_statement(ctx.sessions) as conn:
            _commit_chunk(conn, ctx, lease, checkpoint, finished, now)
        return Correlation()
    with ctx.sessions() as db, db.begin():
        result, imported = store_records(
            db,
            ctx,
            project_id=lease.project_id,
            integration_id=lease.integration_id,
            provider=lease.provider,
            created_at=lease.created_at,
            records=records,
            now=now,
            count_once=True,
        )
        outcomes, samples = _counted(counts, result)
        counters: dict[str, Any] = {}
        if result.scanned:
            counters["scanned"] = result.scanned
        if imported:
            counters["imported"] = imported
        if result.outcomes:
            counters["new_outcomes"] = outcomes
        if result.samples:
            counters["new_samples"] = samples
        _commit_chunk(db, ctx, lease, checkpoint, finished, now, counters)
    counts.outcomes, counts.samples = outcomes, samples
    return result


def _commit_chunk(
    db: Session | Connection,
    ctx: PollContext,
    lease: Lease,
    checkpoint: datetime,
    finished: bool,
    now: datetime,
    counters: dict[str, Any] | None = None,
) -> None:
    """The chunk's last statement: checkpoint, ``counters`` (names of :data:`_COUNTERS`) and, when
    ``finished``, the release and the next poll's time, only while the lease is ours (else
    LeaseLost).

    The next window starts at ``checkpoint - overlap - settle`` at the earliest: older records
    are never read again, so the integration's counted records before it are dropped, on
    PostgreSQL in the same statement.
    """
    counters = counters or {}
    conn = db.connection() if isinstance(db, Session) else db
    update_, forget = _chunk_end(finished, tuple(sorted(counters)), conn.dialect.name == "postgresql")
    params = {
        "new_checkpoint": checkpoint,
        "now": now,
        "forget_before": checkpoint - ctx.behind,
        **counters,
    }
    if finished:
        params["next_poll"] = now + timedelta(seconds=lease.poll_interval)
    if forget is not None:
        db.execute(forget, {"lease_id": lease.integration_id, "forget_before": params["forget_before"]})
    execute_held(db, lease, update_, params)


_COUNTERS: dict[str, tuple[str, Any]] = {
    "scanned": ("records_scanned", Integration.records_scanned + bindparam("scanned", type_=Integer())),
    "imported": ("events_imported", Integration.events_imported + bindparam("imported", type_=Integer())),
    "new_outcomes": ("outcomes", bindparam("new_outcomes", type_=Integration.__table__.c.outcomes.type)),
    "new_samples": (
        "rejected_samples",
        bindparam("new_samples", type_=Integration.__table__.c.rejected_samples.type),
    ),
}
"""A chunk's counters: bind parameter name (never a column's) -> (column, new value)."""


@functools.cache
def _chunk_end(
    finished: bool, counters: tuple[str, ...], postgres: bool
) -> tuple[Executable, Executable | None]:
    """The statements that end a chunk (its UPDATE, and on SQLite the DELETE run before it), built
    once per shape with bind parameters: building a statement and its cache key for every poll was
    a tenth of a worker's CPU."""
    table = Integration.__table__.c
    values: dict[str, Any] = {
        "checkpoint": bindparam("new_checkpoint", type_=table.checkpoint.type),
        "last_success_at": bindparam("now", type_=table.last_success_at.type),
    }
    if finished:
        values.update(
            lease_owner=None,
            lease_expires_at=None,
            next_poll_at=bindparam("next_poll", type_=table.next_poll_at.type),
            consecutive_failures=0,
            needs_attention=False,
        )
    values.update(_COUNTERS[name] for name in counters)
    forget = forgetting(
        bindparam("lease_id", type_=Integer()), bindparam("forget_before", type_=table.checkpoint.type)
    )
    if postgres:
        return held_update(values, then=forget), None
    return held_update(values), forget


def _counted(counts: HealthCounts, result: Correlation) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The outcome counters and the newest samples (one per record and reason) with this chunk's added."""
    merged = dict(counts.outcomes)
    for key, value in result.outcomes.items():
        merged[key] = merged.get(key, 0) + value
    return merged, unique_samples([*result.samples, *counts.samples])[:MAX_SAMPLES]


def unique_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first sample of each (record, reason), in order."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for item in samples:
        key = (item.get("provider_record_id"), item.get("reason"))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def store_failure(ctx: PollContext, lease: Lease, exc: Exception, now: datetime) -> PollResult:
    """Record the error in the integration's health and reschedule (never disables it)."""
    failures = lease.consecutive_failures + 1
    cap = ctx.settings.max_backoff_seconds
    failure = describe(exc, provider_label(lease.provider), action="polling")
    needs_attention = failure.needs_attention  # retried at the capped interval, shown as such
    if failure.retry_after is not None:
        # The provider's wait, but never past the backoff cap: a window waits, it is never dropped.
        delay, outcome = min(cap, max(failure.retry_after, 1.0)), "rate_limited"
    elif needs_attention:
        delay, outcome = cap, "needs_attention"
    else:
        delay, outcome = min(cap, lease.poll_interval * 2 ** min(failures, 20)), "error"
    message, kind = failure.message, failure.kind
    values = {
        "lease_owner": None,
        "lease_expires_at": None,
        "next_poll_at": now + timedelta(seconds=delay),
        "consecutive_failures": failures,
        "needs_attention": needs_attention,
        "last_error_at": now,
        "last_error": message[:1000],
        "last_error_kind": kind,
    }
    try:
        with one_statement(ctx.sessions) as conn:
            lock_for_commit(conn, lease, values)
    except LeaseLost:
        return PollResult("lease_lost", error=message)
    except SQLAlchemyError as db_error:  # the database itself is away: the lease runs out instead
        log.warning(
            "could not record the failed poll of %s (%s); it is polled again when its lease expires",
            lease.label,
            error_reason(db_error),
        )
    return PollResult(outcome, error=message)


async def poll_once(
    ctx: PollContext, lease: Lease, providers: OpenProviders | None = None, seen: SeenRecords | None = None
) -> PollResult:
    """Poll one claimed integration up to now; returns what happened.

    With a worker's ``providers``, the integration's provider stays open for its next poll
    unless this one failed; without, it is opened and closed here. With a worker's ``seen``,
    records it already committed for this integration are not stored again.
    """
    now = ctx.clock()
    start, end = window(lease, ctx, now)
    scanned = imported = 0
    try:
        provider = await providers.acquire(lease) if providers is not None else open_provider(ctx, lease)
    except (VaultError, InvalidSettings) as exc:
        return await ctx.in_thread(store_failure, ctx, lease, exc, now)
    healthy = False
    try:
        parts = chunks(start, end, ctx.max_window) or [(end, end)]
        counts = HealthCounts.of(lease)
        async for b, records, finished in fetch_parts(provider, parts, ctx.max_chunk_records):
            if seen is not None:
                records = seen.fresh(lease.integration_id, records)
            result = await ctx.in_thread(store_chunk, ctx, lease, records, b, finished, now, counts)
            if seen is not None:
                seen.remember(lease.integration_id, records, since=b - ctx.behind)
            scanned += result.scanned
            imported += len(result.rows)
        healthy = True
    except LeaseLost:
        healthy = True  # the provider answered; another worker polls this integration now
        log.warning("lease on %s was taken over; this poll's last chunk was not committed", lease.label)
        metrics.POLLS.labels(lease.provider, "lease_lost").inc()
        return PollResult("lease_lost", scanned, imported)
    except ProviderError as exc:
        log.info("poll of %s failed: %s", lease.label, exc.message)
        outcome = await ctx.in_thread(store_failure, ctx, lease, exc, now)
    except asyncio.CancelledError:
        healthy = True  # a stopping worker closes every provider itself
        raise
    except Exception as exc:
        log.exception("unexpected error polling %s", lease.label)
        outcome = await ctx.in_thread(store_failure, ctx, lease, exc, now)
    else:
        outcome = PollResult("ok", scanned, imported)
    finally:
        if providers is None:
            await provider.aclose()
        elif not healthy:
            await providers.discard(lease.integration_id)
    metrics.POLLS.labels(lease.provider, outcome.outcome).inc()
    outcome.scanned, outcome.imported = scanned, imported
    return outcome


def open_provider(ctx: PollContext, lease: Lease) -> Provider:
    """The provider of a claimed integration: its secrets decrypted, its settings validated."""
    row = Integration(
        project_id=lease.project_id,
        provider=lease.provider,
        name=lease.name,
        settings=lease.settings,
        secrets=lease.secrets,
    )
    return open_stored(row, ctx.vault, ctx.settings)
