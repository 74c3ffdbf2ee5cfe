"""The importer's cheap paths at scale: a chunk with nothing new commits one statement, and a worker
does not store again the records it already committed (only those it committed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from replaylink.importer.leases import Lease, LeaseLost, claim_due
from replaylink.importer.poll import poll_once, store_chunk
from replaylink.importer.seen_records import SeenRecords
from replaylink.providers.base import Record
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import CountedRecord
from tests.conftest import Seeded
from tests.importer_support import (
    Clock,
    add_integration,
    context_for,
    event_count,
    integration,
    new_session,
    settings,  # noqa: F401 (the fixture)
)
from tests.peers import datadog_fake
from tests.peers.datadog_fake import make_log

LEASE_FOR = timedelta(seconds=120)


@pytest.fixture
def integration_id(rt: Runtime, seeded: Seeded, clock: Clock, datadog: datadog_fake.RunningDatadog) -> int:
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    return add_integration(rt, seeded.project_id, "datadog", raw, clock)


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    """The SQL statements the runtime's engine sends while the block runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)


def claim(rt: Runtime, clock: Clock, owner: str = "worker-a") -> Lease:
    (lease,) = claim_due(rt.sessions, owner, clock.now, 10, LEASE_FOR)
    return lease


def count(rt: Runtime, integration_id: int, key: str, outcome: str, at: Any) -> None:
    with transaction(rt.sessions) as db:
        db.add(CountedRecord(integration_id=integration_id, record_key=key, outcome=outcome, record_at=at))


def counted_keys(rt: Runtime) -> list[str]:
    with transaction(rt.sessions) as db:
        return sorted(db.scalars(select(CountedRecord.record_key)))


def test_a_chunk_with_nothing_new_moves_the_checkpoint_releases_and_forgets_old_counts(
    rt: Runtime, clock: Clock, integration_id: int
) -> None:
    ctx = context_for(rt, clock)
    lease = claim(rt, clock)
    count(rt, integration_id, "old", "scanned", clock.now - timedelta(minutes=6))  # behind the next window
    count(rt, integration_id, "recent", "scanned", clock.now - timedelta(minutes=4))  # re-read next time
    with statements(rt) as sent:
        store_chunk(ctx, lease, [], clock.now, True, clock.now)
    row = integration(rt, integration_id)
    assert row.checkpoint == clock.now and row.last_success_at == clock.now
    assert (row.lease_owner, row.lease_expires_at) == (None, None)
    assert row.next_poll_at == clock.now + timedelta(seconds=15)
    assert counted_keys(rt) == ["recent"]
    if rt.engine.dialect.name == "postgresql":  # autocommit: no BEGIN, no COMMIT, one statement
        assert len(sent) == 1 and sent[0].lstrip().upper().startswith("WITH")


def test_a_chunk_with_nothing_new_and_a_lost_lease_changes_nothing(
    rt: Runtime, clock: Clock, integration_id: int
) -> None:
    ctx = context_for(rt, clock)
    first = claim(rt, clock)
    clock.advance(seconds=121)
    claim(rt, clock, owner="worker-b")  # the lease expired: taken over
    count(rt, integration_id, "old", "scanned", clock.now - timedelta(minutes=10))
    before = integration(rt, integration_id)
    with pytest.raises(LeaseLost):
        store_chunk(ctx, first, [], clock.now, True, clock.now)
    after = integration(rt, integration_id)
    assert (after.checkpoint, after.lease_owner) == (before.checkpoint, "worker-b")
    assert counted_keys(rt) == ["old"]  # the forgetting ran only with the update it belongs to


async def test_a_worker_does_not_store_again_what_it_committed(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, integration_id: int
) -> None:
    ctx = context_for(rt, clock)
    _, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    line = f"[openReplaySessionToken={token}] payment failed"
    at = clock.now - timedelta(minutes=1)
    datadog.state.add_records([make_log(line, timestamp=at, status="error", log_id="log-1")])
    seen = SeenRecords()
    first = await poll_once(ctx, claim(rt, clock), seen=seen)
    assert (first.outcome, first.imported, event_count(rt)) == ("ok", 1, 1)

    clock.advance(seconds=20)  # the next window re-reads the record
    with statements(rt) as sent:
        second = await poll_once(ctx, claim(rt, clock), seen=seen)
    assert (second.outcome, second.scanned, second.imported) == ("ok", 0, 0)
    assert not [s for s in sent if "INSERT" in s.upper() or s.lstrip().upper().startswith("SELECT")]
    row = integration(rt, integration_id)
    assert (row.checkpoint, row.records_scanned, row.events_imported) == (clock.now, 1, 1)

    # A new record in the same window is stored; the one already committed is still skipped.
    datadog.state.add_records([make_log(line, timestamp=at, status="error", log_id="log-2")])
    clock.advance(seconds=20)
    third = await poll_once(ctx, claim(rt, clock), seen=seen)
    assert (third.scanned, third.imported, event_count(rt)) == (1, 1, 2)


async def test_a_rolled_back_chunk_is_not_remembered(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, integration_id: int
) -> None:
    ctx = context_for(rt, clock)
    _, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    line = f"[openReplaySessionToken={token}] payment failed"
    datadog.state.add_records(
        [make_log(line, timestamp=clock.now - timedelta(minutes=1), status="error", log_id="log-1")]
    )
    seen = SeenRecords()
    stale = claim(rt, clock)
    clock.advance(seconds=121)
    taken = claim(rt, clock, owner="worker-b")
    assert (await poll_once(ctx, stale, seen=seen)).outcome == "lease_lost"
    assert event_count(rt) == 0
    result = await poll_once(ctx, taken, seen=seen)  # the same worker's memory: it stores the record
    assert (result.outcome, result.imported, event_count(rt)) == ("ok", 1, 1)


def record(key: str, at: Any) -> Record:
    return Record(provider_id=key, timestamp=at, message="m")


def test_seen_records_forget_what_no_window_reads_again_and_stay_bounded(clock: Clock) -> None:
    seen = SeenRecords(per_integration=2)
    old, recent, newest = (
        record(k, clock.now - timedelta(minutes=m)) for k, m in (("a", 9), ("b", 2), ("c", 1))
    )
    seen.remember(1, [old, recent], since=clock.now - timedelta(minutes=10))
    assert seen.fresh(1, [old, recent, newest]) == [newest]
    assert seen.fresh(2, [old]) == [old]  # per integration
    seen.remember(1, [newest], since=clock.now - timedelta(minutes=5))  # "a" is behind every window now
    assert seen.fresh(1, [old, recent, newest]) == [old]
    seen.remember(1, [record("d", clock.now)], since=clock.now - timedelta(minutes=5))  # full: not kept
    assert len(seen) == 2 and seen.fresh(1, [record("d", clock.now)]) != []
    seen.forget(1)
    assert len(seen) == 0


def test_seen_records_forget_the_least_recently_polled_integration_beyond_their_limit(clock: Clock) -> None:
    seen = SeenRecords(integrations=2)
    since = clock.now - timedelta(minutes=5)
    for integration_id in (1, 2, 1, 3):  # 2 is now the least recently polled
        seen.remember(integration_id, [record(f"r{integration_id}", clock.now)], since=since)
    assert [seen.fresh(i, [record(f"r{i}", clock.now)]) == [] for i in (1, 2, 3)] == [True, False, True]
