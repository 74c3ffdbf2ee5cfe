"""On-demand backend logs: query every enabled integration live for one session's token.

The window is the session's span padded on both sides: ``[started_at - padding,
min(ends_at, now) + padding)``, where ``ends_at = max(last_seen_at, token_expires_at)`` (a backend
may log with the token until it expires). All levels are fetched, not only errors.

Integrations are queried concurrently, each capped (``on_demand_max_records``, one more is asked
for to tell a truncated answer) and timed out (``on_demand_timeout_seconds``) on its own; one
failure is reported for that integration only. Successful answers are cached per (session,
integration): ``cache_recent_seconds`` when the session was active in the last hour, else
``cache_old_seconds``; an entry older than the integration's last settings change is ignored.
Live records that the importer already stored are dropped from the merged timeline, which is
deduplicated by ``(integration_id, provider record id)``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio
from sqlalchemy import select
from sqlalchemy.orm import Session

from replaylink.config import Settings
from replaylink.integrations.connect import open_stored, provider_options
from replaylink.integrations.failures import describe, provider_label
from replaylink.integrations.settings import InvalidSettings
from replaylink.providers.base import (
    Provider,
    ProviderError,
    Query,
    RateLimited,
    Record,
    bound_attributes,
)
from replaylink.records import event_fields
from replaylink.runtime import Runtime
from replaylink.store import live_cache
from replaylink.store.db import read_transaction, transaction
from replaylink.store.models import BackendEvent, Integration, RecordedSession
from replaylink.store.sessions_query import Page, imported_record_ids, session_events
from replaylink.vault import VaultError

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "rate_limited", "timeout"]
RECENT = timedelta(hours=1)
"""A session seen within this long is "active": its cache entries expire sooner."""
LIVE_ATTRIBUTES_BYTES = 4096
"""Attributes kept per live record (records are cached and returned by the thousand)."""
MAX_IMPORTED = 2000
"""Imported events merged into one answer (the session detail pages through all of them)."""
INTERACTIVE_RETRIES = 1
INTERACTIVE_RATE_LIMIT_WAIT = 2.0
"""Someone is waiting: retry less and wait out only short rate limits."""


@dataclass
class LiveResult:
    """What one integration answered (or why it did not)."""

    integration_id: int
    provider: str
    name: str
    status: Status
    message: str | None = None
    truncated: bool = False
    cached: bool = False
    fetched_at: datetime | None = None
    expires_at: datetime | None = None
    retry_after: float | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BackendLogs:
    start: datetime
    end: datetime
    results: list[LiveResult]
    imported: list[BackendEvent]
    imported_truncated: bool
    live: list[dict[str, Any]]
    """Live records not already imported, each once."""


# --------------------------------------------------------------------------- window and cache rules


def session_end(session: RecordedSession) -> datetime:
    """Until when a backend may log this session's token."""
    return max(session.last_seen_at, session.token_expires_at)


def query_window(
    session: RecordedSession, padding_seconds: float, now: datetime
) -> tuple[datetime, datetime]:
    padding = timedelta(seconds=padding_seconds)
    start = session.started_at - padding
    end = max(min(session_end(session), now) + padding, start + timedelta(seconds=1))
    return start, end


def cache_lifetime(session: RecordedSession, settings: Settings, now: datetime) -> timedelta:
    active = now - session.last_seen_at <= RECENT
    return timedelta(seconds=settings.cache_recent_seconds if active else settings.cache_old_seconds)


# --------------------------------------------------------------------------- records


def live_record(record: Record, row: Integration) -> dict[str, Any]:
    """A provider record as the API returns it: an event's fields, JSON-safe and bounded."""
    fields = event_fields(record, row.provider)
    return {
        **fields,
        "integration_id": row.id,
        "provider": row.provider,
        "timestamp": fields["timestamp"].isoformat(),
        "attributes": bound_attributes(record.attributes, LIVE_ATTRIBUTES_BYTES) or None,
    }


# --------------------------------------------------------------------------- one integration


def open_interactive(row: Integration, rt: Runtime) -> Provider:
    """The integration's provider, with the importer's guard and limits but fewer retries."""
    base = provider_options(rt.settings, row.provider)
    options = dataclasses.replace(
        base,
        max_retries=min(base.max_retries, INTERACTIVE_RETRIES),
        max_rate_limit_wait=min(base.max_rate_limit_wait, INTERACTIVE_RATE_LIMIT_WAIT),
        max_rate_limit_waits=1,
    )
    return open_stored(row, rt.vault, rt.settings, options)


async def _collect(found: AsyncIterator[Record], row: Integration, result: LiveResult, cap: int) -> None:
    """Append up to ``cap`` distinct records to ``result``; flag it truncated when more follow."""
    seen: set[str] = set()
    try:
        async for record in found:
            if record.provider_id in seen:
                continue
            if len(seen) >= cap:
                result.truncated = True
                return
            seen.add(record.provider_id)
            result.records.append(live_record(record, row))
    finally:
        if isinstance(found, AsyncGenerator):
            await found.aclose()


async def query_integration(row: Integration, query: Query, rt: Runtime, cap: int) -> LiveResult:
    """Query one integration under the on-demand timeout; never raises for a provider's failure."""
    label = provider_label(row.provider)
    timeout = rt.settings.on_demand_timeout_seconds
    result = LiveResult(row.id, row.provider, row.name, "ok")
    try:
        with anyio.fail_after(timeout):
            async with open_interactive(row, rt) as provider:
                await _collect(provider.search(query), row, result, cap)
    except Exception as exc:
        if not isinstance(exc, ProviderError | TimeoutError | InvalidSettings | VaultError):
            log.warning("on-demand query of integration %s failed: %s", row.id, type(exc).__name__)
        failure = describe(exc, label, action="querying", timeout=timeout)
        result.status, result.message, result.retry_after = "error", failure.message, failure.retry_after
        if isinstance(exc, TimeoutError):
            result.status = "timeout"
            result.message = (
                f"{label} did not answer within {timeout:g} s; showing the {len(result.records)} "
                "records received before that. Try again later."
            )
        elif isinstance(exc, RateLimited):
            result.status = "rate_limited"
    if result.status != "ok" and result.records:
        result.truncated = True  # what arrived before the failure is kept, flagged incomplete
    return result


async def query_all(rows: Sequence[Integration], query: Query, rt: Runtime, cap: int) -> list[LiveResult]:
    """Every integration at once; results in the order of ``rows``."""
    results: list[LiveResult | None] = [None] * len(rows)

    async def one(index: int, row: Integration) -> None:
        results[index] = await query_integration(row, query, rt, cap)

    async with anyio.create_task_group() as group:
        for index, row in enumerate(rows):
            group.start_soon(one, index, row)
    return [result for result in results if result is not None]


# --------------------------------------------------------------------------- the whole request


@dataclass
class _Plan:
    query: Query
    to_query: list[Integration]
    cached: dict[int, LiveResult]
    order: list[int]


def _enabled(db: Session, project_id: int, provider: str | None) -> list[Integration]:
    query = select(Integration).where(
        Integration.project_id == project_id, Integration.enabled.is_(True), Integration.paused.is_(False)
    )
    if provider:
        query = query.where(Integration.provider == provider)
    return list(db.scalars(query.order_by(Integration.provider, Integration.name)))


def _plan(rt: Runtime, session: RecordedSession, provider: str | None, refresh: bool, now: datetime) -> _Plan:
    settings = rt.settings
    start, end = query_window(session, settings.on_demand_padding_seconds, now)
    token = session.token or rt.signer.mint(
        session.id, session.project_id, int(session.token_expires_at.timestamp())
    )
    cap = settings.on_demand_max_records
    query = Query(
        start=start, end=end, token=token, errors_only=False, page_size=min(cap + 1, 1000), limit=cap + 1
    )
    with read_transaction(rt.read_sessions) as db:
        rows = _enabled(db, session.project_id, provider)
        entries = {} if refresh else live_cache.fresh(db, session.id, [r.id for r in rows], now)
    cached: dict[int, LiveResult] = {}
    to_query: list[Integration] = []
    for row in rows:
        entry = entries.get(row.id)
        if entry is None or entry.fetched_at < row.updated_at:
            to_query.append(row)
            continue
        cached[row.id] = LiveResult(
            row.id,
            row.provider,
            row.name,
            "ok",
            truncated=entry.truncated,
            cached=True,
            fetched_at=entry.fetched_at,
            expires_at=entry.expires_at,
            records=entry.records,
        )
    return _Plan(query, to_query, cached, [row.id for row in rows])


def _finish(
    rt: Runtime, session: RecordedSession, fetched: list[LiveResult], provider: str | None, now: datetime
) -> tuple[Page[BackendEvent], set[tuple[str, str]]]:
    """Cache the successful answers, then read the imported events to merge with."""
    expires = now + cache_lifetime(session, rt.settings, now)
    with transaction(rt.sessions) as db:
        for result in fetched:
            result.fetched_at = now
            if result.status == "ok" and expires > now:
                result.expires_at = expires
                live_cache.save(
                    db,
                    session_id=session.id,
                    integration_id=result.integration_id,
                    fetched_at=now,
                    expires_at=expires,
                    truncated=result.truncated,
                    records=result.records,
                )
        page = session_events(db, session.id, limit=MAX_IMPORTED, provider=provider)
        stored = imported_record_ids(db, session.id)
    return page, stored


def dedupe(stored: set[tuple[str, str]], results: Sequence[LiveResult]) -> list[dict[str, Any]]:
    """Live records of every result that the importer has not ``stored``, each once: a record is
    its provider's id, whichever integration read it."""
    seen = set(stored)
    live: list[dict[str, Any]] = []
    for result in results:
        for record in result.records:
            key = (record["provider"], record["provider_record_id"])
            if key not in seen:
                seen.add(key)
                live.append(record)
    return live


async def backend_logs(
    rt: Runtime,
    session: RecordedSession,
    *,
    provider: str | None = None,
    refresh: bool = False,
    now: datetime | None = None,
) -> BackendLogs:
    """Live backend logs of ``session`` (cached, merged with what the importer stored)."""
    now = now or datetime.now(UTC)
    plan = await anyio.to_thread.run_sync(_plan, rt, session, provider, refresh, now)
    fetched = await query_all(plan.to_query, plan.query, rt, rt.settings.on_demand_max_records)
    imported, stored = await anyio.to_thread.run_sync(_finish, rt, session, fetched, provider, now)
    by_id = {result.integration_id: result for result in fetched} | plan.cached
    results = [by_id[integration_id] for integration_id in plan.order if integration_id in by_id]
    return BackendLogs(
        start=plan.query.start,
        end=plan.query.end,
        results=results,
        imported=imported.items,
        imported_truncated=imported.next_cursor is not None,
        live=dedupe(stored, results),
    )
