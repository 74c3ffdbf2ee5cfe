"""Events at whole seconds (a bucket's start included): their deletes keep the rollup exact, and a
window or a cutoff at one of them compares it as the same time. SQLite stores times as text:
SQLAlchemy writes '12:00:00.000000'; the bulk inserts once wrote '12:00:00', which sorts below it
(the rollup's delete trigger then found no event at a bucket's start and failed). Migration 0015
rewrites what they stored that way."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from replaylink import retention
from replaylink.runtime import Runtime
from replaylink.store import counted_records, error_groups, integrations, migrate
from replaylink.store.db import transaction
from replaylink.store.events import EventRow, insert_events
from replaylink.store.models import BackendEvent, CountedRecord, Integration
from tests.backend_events import add_integration, add_session, every_page
from tests.conftest import Seeded
from tests.test_error_group_rollup import assert_consistent, event_row, stored

REWRITTEN: dict[str, tuple[str, ...]] = importlib.import_module(
    "replaylink.store.migrations.versions.0015_sqlite_whole_second_times"
).REWRITTEN
MIDNIGHT = datetime(2026, 6, 1, tzinfo=UTC)
NOON = MIDNIGHT + timedelta(hours=12)
TRIGGERS = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)

# (session, fingerprint, time, record): several events of a group at the very start of an hour
# (and of a day), others at whole seconds elsewhere, a few with a fraction.
PLAN: list[tuple[str, str, datetime, str]] = [
    ("old", "fpA", MIDNIGHT - 2 * HOUR, "old-1"),
    ("old", "fpA", MIDNIGHT - HOUR, "old-2"),
    ("old", "fpB", MIDNIGHT - HOUR, "old-3"),
    ("kept", "fpA", MIDNIGHT - HOUR, "before-1"),
    ("kept", "fpA", MIDNIGHT - SECOND, "before-2"),
    ("kept", "fpA", MIDNIGHT, "midnight-1"),
    ("kept", "fpA", MIDNIGHT, "midnight-2"),
    ("kept", "fpA", MIDNIGHT + SECOND, "midnight-3"),
    ("kept", "fpB", MIDNIGHT, "midnight-4"),
    ("kept", "fpA", NOON - HOUR, "eleven-1"),
    ("kept", "fpA", NOON - HOUR + timedelta(milliseconds=500), "eleven-2"),
    ("kept", "fpA", NOON, "noon-1"),
    ("kept", "fpA", NOON, "noon-2"),
    ("kept", "fpA", NOON, "noon-3"),
    ("kept", "fpA", NOON + SECOND, "noon-4"),
    ("kept", "fpB", NOON + 30 * timedelta(minutes=1), "half-1"),
    ("kept", "fpB", NOON + 30 * timedelta(minutes=1) - SECOND, "half-2"),
    ("kept", "fpA", NOON + HOUR - SECOND, "last-1"),
    ("kept", "fpA", NOON + HOUR, "one-1"),
    ("kept", "fpA", NOON + HOUR, "one-2"),
    ("kept", "fpB", NOON + HOUR + timedelta(microseconds=250), "one-3"),
    ("kept", "fpC", NOON + 2 * HOUR, "two-1"),  # a bucket's every event at its start
    ("kept", "fpC", NOON + 2 * HOUR, "two-2"),
]
TIMES = {record: at for _, _, at, record in PLAN}

WINDOWS: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (MIDNIGHT, None),
    (None, MIDNIGHT),
    (MIDNIGHT, MIDNIGHT + SECOND),
    (NOON, NOON + HOUR),
    (NOON, NOON + SECOND),
    (NOON - SECOND, NOON),
    (NOON + 30 * timedelta(minutes=1), None),
    (NOON + 30 * timedelta(minutes=1), NOON + 30 * timedelta(minutes=1) + SECOND),
    (NOON + HOUR - SECOND, NOON + HOUR),
    (NOON + HOUR, None),
    (NOON + 2 * HOUR, None),
    (NOON + HOUR, NOON + 2 * HOUR),
    (NOON - HOUR, NOON + HOUR),
    (MIDNIGHT - HOUR, MIDNIGHT + 2 * SECOND),
    (MIDNIGHT - HOUR, NOON + 2 * HOUR),
]


@dataclass
class Stored:
    project_id: int
    session_ids: dict[str, int]
    integration_id: int


def _setup(rt: Runtime, seeded: Seeded) -> Stored:
    sessions = {
        "old": add_session(rt, seeded.project_id, MIDNIGHT - 3 * HOUR).id,
        "kept": add_session(rt, seeded.project_id, MIDNIGHT).id,
    }
    return Stored(seeded.project_id, sessions, add_integration(rt, seeded.project_id))


def _rows(where: Stored) -> list[EventRow]:
    rows = []
    for session, fingerprint, at, record in PLAN:
        row = event_row(where.project_id, where.session_ids[session], fingerprint, at, record)
        row["imported_at"] = NOON.replace(hour=18)  # a whole second too
        rows.append(row)
    return rows


def _groups(rt: Runtime, project_id: int, start: datetime | None, end: datetime | None) -> dict[str, tuple]:
    groups = every_page(rt, project_id, error_groups.GroupFilters(start=start, end=end), limit=10)
    return {g.fingerprint: (g.count, g.first_seen, g.last_seen) for g in groups}


def _expected_groups(records: set[str], start: datetime | None, end: datetime | None) -> dict[str, tuple]:
    inside = [
        (fingerprint, at)
        for _, fingerprint, at, record in PLAN
        if record in records and (start is None or start <= at) and (end is None or at < end)
    ]
    out = {}
    for fingerprint in {fp for fp, _ in inside}:
        times = [at for fp, at in inside if fp == fingerprint]
        out[fingerprint] = (len(times), min(times), max(times))
    return out


def _stored_records(rt: Runtime) -> set[str]:
    with transaction(rt.sessions) as db:
        return set(db.scalars(select(BackendEvent.provider_record_id)))


def assert_windows(rt: Runtime, project_id: int) -> None:
    """Each window's groups hold exactly the events in ``[start, end)``: an event at a bound's very
    second is inside from ``start`` on and outside before ``end``."""
    records = _stored_records(rt)
    for start, end in WINDOWS:
        assert _groups(rt, project_id, start, end) == _expected_groups(records, start, end), (start, end)


def delete_and_check(rt: Runtime, where: Stored) -> None:
    """Deletes of events at a bucket's start, in one statement, one at a time and by retention."""
    e = BackendEvent
    assert_consistent(rt)
    assert_windows(rt, where.project_id)

    with transaction(rt.sessions) as db:  # one statement: one of several at an hour's and a day's start
        db.execute(delete(e).where(e.provider_record_id.in_(["noon-1", "midnight-1", "one-1", "two-1"])))
    assert_consistent(rt)
    assert_windows(rt, where.project_id)

    for record in ("noon-2", "eleven-1", "one-2", "midnight-4", "last-1"):  # one at a time
        with transaction(rt.sessions) as db:
            db.execute(delete(e).where(e.provider_record_id == record))
        assert_consistent(rt)
    assert_windows(rt, where.project_id)

    # Cutoff at midnight: the session started before goes with its events, the events before
    # midnight go, the one at midnight exactly stays.
    purged = retention.purge(rt.sessions, retention_days=1, now=MIDNIGHT + timedelta(days=1))
    assert purged.sessions == 1
    assert purged.events == 5
    left = _stored_records(rt)
    assert left == {r for r, at in TIMES.items() if at >= MIDNIGHT} - {
        "noon-1",
        "midnight-1",
        "one-1",
        "two-1",
        "noon-2",
        "eleven-1",
        "one-2",
        "midnight-4",
        "last-1",
    }
    assert "midnight-2" in left
    assert_consistent(rt)
    assert_windows(rt, where.project_id)

    with transaction(rt.sessions) as db:  # what is left, one statement
        db.execute(delete(e))
    assert stored(rt)["totals"] == {}
    assert stored(rt)["buckets"] == {}


def _short_values(rt: Runtime) -> dict[str, int]:
    """SQLite: how many values of each column 0015 rewrites have no fraction."""
    with rt.engine.connect() as conn:
        return {
            f"{table}.{column}": conn.exec_driver_sql(
                f'SELECT count(*) FROM {table} WHERE length("{column}") = 19'
            ).scalar_one()
            for table, columns in REWRITTEN.items()
            for column in columns
        }


def test_whole_second_events_delete_and_window_as_any_other(rt: Runtime, seeded: Seeded) -> None:
    """Events the importer's batch insert stored at whole seconds: deleting them (some at the very
    start of their hour and day bucket, others of the same group left there) keeps the rollup
    exact, and windows and retention's cutoff at their second take them as that time."""
    where = _setup(rt, seeded)
    with transaction(rt.sessions) as db:
        assert insert_events(db, _rows(where)) == len(PLAN)
        pairs = [(f"k{n}", "scanned", at) for n, (_, _, at, _) in enumerate(PLAN)]
        assert len(counted_records.first_counts(db, where.integration_id, pairs)) == len(PLAN)
    if rt.engine.dialect.name == "sqlite":
        assert set(_short_values(rt).values()) == {0}
    with transaction(rt.sessions) as db:  # a cutoff at a record's second keeps it
        counted_records.forget_before(db, where.integration_id, NOON)
        kept = set(db.scalars(select(CountedRecord.record_at)))
    assert kept == {at for at in TIMES.values() if at >= NOON}
    delete_and_check(rt, where)


def test_an_integration_deleted_with_its_whole_second_events(rt: Runtime, seeded: Seeded) -> None:
    """Deleting an integration with ``purge_events`` removes its events stored at whole seconds
    (some at the very start of their buckets) in one statement, keeping the others' rollup exact."""
    where = _setup(rt, seeded)
    other = add_integration(rt, seeded.project_id, "other")
    rows = _rows(where)
    for n, row in enumerate(rows):  # every other event is the other integration's
        row["integration_id"] = where.integration_id if n % 2 else other
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    with transaction(rt.sessions) as db:
        integration = db.get(Integration, where.integration_id)
        assert integration is not None
        assert integrations.remove(db, integration, purge_events=True) == len(rows) // 2
    assert _stored_records(rt) == {row["provider_record_id"] for row in rows[::2]}
    assert_consistent(rt)
    assert_windows(rt, where.project_id)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_0015_rewrites_whole_seconds_stored_without_a_fraction(rt: Runtime, seeded: Seeded) -> None:
    """Rows as the bulk inserts stored them before 0014's release ('12:00:00', no fraction; the
    triggers copied them into the rollup): a delete at a bucket's start failed. After 0015 every
    such value has its fraction, the triggers are as they were, and deletes, windows and
    retention behave as for any event."""
    where = _setup(rt, seeded)
    migrate.downgrade(rt.engine, "0014")
    with rt.engine.connect() as conn:
        triggers = conn.exec_driver_sql(TRIGGERS).all()

    def old_text(at: datetime) -> str:  # what sqlite3's default adapter wrote
        return at.replace(tzinfo=None).isoformat(" ")

    with rt.engine.begin() as conn:
        for session, fingerprint, at, record in PLAN:
            conn.exec_driver_sql(
                "INSERT INTO backend_events (project_id, session_id, integration_id, provider, "
                "provider_record_id, timestamp, level, title, message, fingerprint, imported_at) "
                "VALUES (?, ?, NULL, 'datadog', ?, ?, 'error', ?, ?, ?, ?)",
                (
                    where.project_id,
                    where.session_ids[session],
                    record,
                    old_text(at),
                    f"Error {fingerprint}",
                    f"Error {fingerprint} happened",
                    fingerprint,
                    old_text(NOON.replace(hour=18)),
                ),
            )
            conn.exec_driver_sql(
                "INSERT INTO counted_records (integration_id, record_key, outcome, record_at) "
                "VALUES (?, ?, 'scanned', ?)",
                (where.integration_id, record, old_text(at)),
            )
    short, whole = _short_values(rt), sum(at.microsecond == 0 for at in TIMES.values())
    assert short["backend_events.timestamp"] == short["counted_records.record_at"] == whole < len(PLAN)
    assert short["backend_events.imported_at"] == len(PLAN)
    assert short["error_group_totals.first_seen"] and short["error_group_buckets.last_seen"]
    with pytest.raises(IntegrityError, match="first_seen"), transaction(rt.sessions) as db:
        db.execute(delete(BackendEvent).where(BackendEvent.provider_record_id == "two-1"))

    migrate.upgrade(rt.engine, "0015")
    assert set(_short_values(rt).values()) == {0}
    with rt.engine.connect() as conn:
        assert conn.exec_driver_sql(TRIGGERS).all() == triggers
    migrate.upgrade(rt.engine)
    with pytest.raises(DBAPIError, match="never change"), transaction(rt.sessions) as db:
        db.execute(
            update(BackendEvent)
            .where(BackendEvent.provider_record_id == "noon-1")
            .values(timestamp=NOON + SECOND)
        )
    with transaction(rt.sessions) as db:
        events = {
            r: (at, imported)
            for r, at, imported in db.execute(
                select(BackendEvent.provider_record_id, BackendEvent.timestamp, BackendEvent.imported_at)
            )
        }
        counted_records.forget_before(db, where.integration_id, NOON)
        kept = set(db.scalars(select(CountedRecord.record_key)))
    assert events == {r: (at, NOON.replace(hour=18)) for r, at in TIMES.items()}
    assert kept == {r for r, at in TIMES.items() if at >= NOON}
    delete_and_check(rt, where)


def test_0015_changes_nothing_stored_as_sqlalchemy_writes(rt: Runtime, seeded: Seeded) -> None:
    """On rows already in the long form (and on PostgreSQL) 0015 and its downgrade change nothing."""
    where = _setup(rt, seeded)
    with transaction(rt.sessions) as db:
        insert_events(db, _rows(where))
    before = stored(rt)
    migrate.downgrade(rt.engine, "0014")
    migrate.upgrade(rt.engine)
    assert stored(rt) == before
    assert_consistent(rt)
