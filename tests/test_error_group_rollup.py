"""The error-group rollup (migration 0008) and the session event counts (0010) equal an aggregate
of the events, whatever inserted or deleted them: the importer's batch insert, single rows,
retention, integration delete with purge, project delete, and concurrent importers on PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from replaylink import ids, retention
from replaylink.runtime import Runtime
from replaylink.store import error_group_rollup, error_groups, integrations, migrate
from replaylink.store.db import transaction
from replaylink.store.events import EventRow, insert_events
from replaylink.store.models import (
    BackendEvent,
    ErrorGroupBucket,
    ErrorGroupSession,
    ErrorGroupSessionHour,
    ErrorGroupTotal,
    Project,
    SessionEventCount,
)
from tests.backend_events import add_event, add_integration, add_session
from tests.conftest import Seeded

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def expected(rt: Runtime) -> dict[str, Any]:
    """The rollup computed in Python from the stored events."""
    with transaction(rt.sessions) as db:
        rows = db.execute(
            select(
                BackendEvent.project_id,
                BackendEvent.fingerprint,
                BackendEvent.session_id,
                BackendEvent.timestamp,
            )
        ).all()
        providers = db.execute(select(BackendEvent.session_id, BackendEvent.provider)).all()
    per_provider: dict[tuple[int, str], int] = defaultdict(int)
    for session_id, provider in providers:
        per_provider[(session_id, provider)] += 1
    totals: dict[tuple[int, str], list[Any]] = {}
    sessions: dict[tuple[int, str, int], int] = defaultdict(int)
    seen: dict[tuple[int, str, int], tuple[datetime, datetime]] = {}
    buckets: dict[tuple[int, str, datetime, str], list[Any]] = {}
    for project_id, fingerprint, session_id, ts in rows:
        member = (project_id, fingerprint, session_id)
        sessions[member] += 1
        first, last = seen.get(member, (ts, ts))
        seen[member] = (min(first, ts), max(last, ts))
        # totals or buckets, each with its own key
        counted: list[tuple[tuple[object, ...], dict[Any, list[Any]]]] = [
            ((project_id, fingerprint), totals),
            ((project_id, "h", _hour(ts), fingerprint), buckets),
            ((project_id, "d", _day(ts), fingerprint), buckets),
        ]
        for key, table in counted:
            entry = table.setdefault(key, [0, ts, ts])
            entry[0] += 1
            entry[1], entry[2] = min(entry[1], ts), max(entry[2], ts)
    distinct: dict[tuple[int, str], int] = defaultdict(int)
    started: dict[tuple[int, str, int], int] = defaultdict(int)
    for project_id, fingerprint, session_id in sessions:
        distinct[(project_id, fingerprint)] += 1
        started[(project_id, fingerprint, (session_id >> ids.RANDOM_BITS) // 3_600_000)] += 1
    return {
        "totals": {k: (v[0], distinct[k], v[1], v[2]) for k, v in totals.items()},
        "sessions": dict(sessions),
        "sessions_seen": seen,
        "session_hours": dict(started),
        "buckets": {k: tuple(v) for k, v in buckets.items()},
        "providers": dict(per_provider),
    }


def stored(rt: Runtime, *, latest: bool = True) -> dict[str, Any]:
    """The rollup as stored (without what 0014 and 0016 added, unless ``latest``)."""
    t, s, b, h = ErrorGroupTotal, ErrorGroupSession, ErrorGroupBucket, ErrorGroupSessionHour
    with transaction(rt.sessions) as db:
        return {
            "totals": {
                (r.project_id, r.fingerprint): (r.events, r.sessions, r.first_seen, r.last_seen)
                for r in db.execute(
                    select(t.project_id, t.fingerprint, t.events, t.sessions, t.first_seen, t.last_seen)
                )
            },
            "sessions": {
                (p, fp, sid): n
                for p, fp, sid, n in db.execute(select(s.project_id, s.fingerprint, s.session_id, s.events))
            },
            "sessions_seen": {
                (r.project_id, r.fingerprint, r.session_id): (r.first_seen, r.last_seen)
                for r in db.scalars(select(s))
            }
            if latest
            else None,
            "session_hours": {
                (r.project_id, r.fingerprint, r.start_hour): r.sessions for r in db.scalars(select(h))
            }
            if latest
            else None,
            "buckets": {
                (r.project_id, r.period, r.start, r.fingerprint): (r.events, r.first_seen, r.last_seen)
                for r in db.scalars(select(b))
            },
            "providers": {
                (r.session_id, r.provider): r.events for r in db.scalars(select(SessionEventCount))
            },
        }


def assert_consistent(rt: Runtime, *, offsets: bool = True, latest: bool = True) -> None:
    want, got = expected(rt), stored(rt, latest=latest)
    assert got["totals"] == want["totals"]
    assert got["sessions"] == want["sessions"]
    if latest:
        assert got["session_hours"] == want["session_hours"]
        assert got["sessions_seen"] == want["sessions_seen"]
    assert got["buckets"] == want["buckets"]
    assert got["providers"] == want["providers"]
    if offsets:
        assert_offsets_bound_the_events(rt)


def assert_offsets_bound_the_events(rt: Runtime) -> None:
    """0013: each group's offsets hold every event's time minus its session id's start (ms, to
    the millisecond the databases round to)."""
    e, t = BackendEvent, ErrorGroupTotal
    with transaction(rt.sessions) as db:
        bounds = {
            (p, fp): (lo, hi)
            for p, fp, lo, hi in db.execute(
                select(t.project_id, t.fingerprint, t.min_offset_ms, t.max_offset_ms)
            )
        }
        events = db.execute(select(e.project_id, e.fingerprint, e.session_id, e.timestamp)).all()
    for project_id, fingerprint, session_id, ts in events:
        offset = (ts - ids.EPOCH) // timedelta(milliseconds=1) - (session_id >> ids.RANDOM_BITS)
        lo, hi = bounds[(project_id, fingerprint)]
        assert lo is not None and hi is not None, (fingerprint, session_id, ts)
        assert lo - 1 <= offset <= hi + 1, (fingerprint, session_id, ts)


def event_row(
    project_id: int,
    session_id: int,
    fingerprint: str,
    ts: datetime,
    record: str,
    integration_id: int | None = None,
    provider: str = "datadog",
) -> EventRow:
    return EventRow(
        project_id=project_id,
        session_id=session_id,
        integration_id=integration_id,
        provider=provider,
        provider_record_id=record,
        timestamp=ts,
        level="error",
        title=f"Error {fingerprint}",
        message=f"Error {fingerprint} happened",
        exception_type=None,
        service=None,
        host=None,
        logger=None,
        stack=None,
        link=None,
        attributes=None,
        fingerprint=fingerprint,
        imported_at=NOW,
    )


def test_rollup_follows_inserts_purges_and_deletes(rt: Runtime, seeded: Seeded) -> None:
    rng = random.Random(5)
    integration_id, kept_id = (add_integration(rt, seeded.project_id, name) for name in ("main", "kept"))
    projects = [seeded.project_id, seeded.other_project_id]
    sessions = [
        add_session(rt, rng.choice(projects), NOW - timedelta(days=rng.uniform(0, 40))) for _ in range(12)
    ]
    rows = []
    for n in range(400):
        session = rng.choice(sessions)
        ts = session.started_at + timedelta(seconds=rng.uniform(-600, 7200))
        rows.append(
            event_row(
                session.project_id,
                session.id,
                f"fp{rng.randrange(6)}",
                ts,
                f"r{n}",
                integration_id if n % 3 == 0 else kept_id,
                rng.choice(["datadog", "sentry", "cloudwatch"]),
            )
        )
    with transaction(rt.sessions) as db:
        assert insert_events(db, rows[:250]) == 250
    with transaction(rt.sessions) as db:  # duplicates of stored rows add nothing
        assert insert_events(db, rows[200:]) == 150
    add_event(rt, sessions[0], fingerprint="fp1")  # a single-row insert
    assert stored(rt)["totals"]
    assert_consistent(rt)

    purged = retention.purge(rt.sessions, retention_days=20, now=NOW)
    assert purged.events > 0
    assert_consistent(rt)

    with transaction(rt.sessions) as db:
        integration = db.get_one(integrations.Integration, integration_id)
        assert integrations.remove(db, integration, purge_events=True) > 0
    assert_consistent(rt)

    with transaction(rt.sessions) as db:  # a delete of some events of a session, first seen included
        first = db.scalars(
            select(BackendEvent.id)
            .where(BackendEvent.session_id == sessions[1].id)
            .order_by(BackendEvent.timestamp)
        ).first()
        db.execute(delete(BackendEvent).where(BackendEvent.id == first))
    assert_consistent(rt)

    with transaction(rt.sessions) as db:
        db.execute(delete(Project).where(Project.id == seeded.other_project_id))
    assert_consistent(rt)
    assert all(key[0] == seeded.project_id for key in stored(rt)["totals"])


def test_events_keep_what_the_rollup_reads(rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id, NOW)
    event = add_event(rt, session, fingerprint="fp1")
    for change in ({"fingerprint": "fp2"}, {"provider": "sentry"}, {"session_id": session.id + 1}):
        with pytest.raises(DBAPIError, match="never change"), transaction(rt.sessions) as db:
            db.execute(update(BackendEvent).where(BackendEvent.id == event.id).values(**change))
    with transaction(rt.sessions) as db:  # other columns may change (integration delete detaches)
        db.execute(
            update(BackendEvent).where(BackendEvent.id == event.id).values(integration_id=None, level="x")
        )
    assert_consistent(rt)


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_importers_lose_no_counts(rt: Runtime, seeded: Seeded) -> None:
    """Two workers inserting into the same groups and sessions at once (PostgreSQL)."""
    sessions = [add_session(rt, seeded.project_id, NOW + timedelta(minutes=i)) for i in range(4)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait()
            for batch in range(10):
                rows = [
                    event_row(
                        seeded.project_id,
                        s.id,
                        f"fp{i % 3}",
                        s.started_at + timedelta(seconds=i),
                        f"{name}-{batch}-{i}",
                    )
                    for i, s in enumerate(sessions * 25)
                ]
                with transaction(rt.sessions) as db:
                    insert_events(db, rows)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(v[0] for v in stored(rt)["totals"].values()) == 2 * 10 * 100
    assert_consistent(rt)


def test_migration_fills_the_rollup_from_stored_events(rt: Runtime, seeded: Seeded) -> None:
    migrate.downgrade(rt.engine, "0007")
    sessions = [add_session(rt, seeded.project_id, NOW - timedelta(days=d)) for d in (0, 1, 3)]
    rows = [
        event_row(seeded.project_id, s.id, f"fp{i % 4}", s.started_at + timedelta(minutes=7 * i), f"m{n}-{i}")
        for n, s in enumerate(sessions)
        for i in range(30)
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    migrate.upgrade(rt.engine)
    assert len(stored(rt)["totals"]) == 4
    assert_consistent(rt)


def test_buckets_keep_their_rows_and_triggers_across_0013(rt: Runtime, seeded: Seeded) -> None:
    """0013 copies the buckets into a WITHOUT ROWID table on SQLite (and back on downgrade); the
    triggers that keep them are created again."""
    sessions = [add_session(rt, seeded.project_id, NOW - timedelta(hours=h)) for h in (1, 30)]
    for n, s in enumerate(sessions):
        add_event(rt, s, timedelta(minutes=n), title=f"Error {n}")
    for revision in ("0012", "head"):
        (migrate.downgrade if revision == "0012" else migrate.upgrade)(rt.engine, revision)
        add_event(rt, sessions[0], timedelta(seconds=len(revision)), title=f"Error at {revision}")
        assert_consistent(rt, offsets=revision == "head", latest=revision == "head")
    if rt.engine.dialect.name == "sqlite":
        with rt.engine.connect() as conn:
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'error_group_buckets'")
            assert sql.scalar_one().endswith("WITHOUT ROWID")


def test_session_hours_and_seen_are_filled_by_0014_0016_and_kept_after(rt: Runtime, seeded: Seeded) -> None:
    """0014 counts each group's sessions per start hour from the stored memberships and 0016 gives
    each membership its first and last event; after them, a session's first event of a group adds
    it to its hour and the delete of its last one takes it out (the row goes at zero), and a delete
    of its first or last event recomputes them, whatever the statement."""
    migrate.downgrade(rt.engine, "0013")
    sessions = [add_session(rt, seeded.project_id, NOW - timedelta(minutes=25 * n)) for n in range(8)]
    rows = [
        event_row(seeded.project_id, s.id, f"fp{i % 3}", s.started_at + timedelta(minutes=i), f"a{n}-{i}")
        for n, s in enumerate(sessions)
        for i in range(n + 1)
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    migrate.upgrade(rt.engine)
    assert len(stored(rt)["session_hours"]) > 3
    assert_consistent(rt)
    later = [
        event_row(seeded.project_id, s.id, f"fp{i % 4}", s.started_at + timedelta(minutes=i), f"b{n}-{i}")
        for n, s in enumerate(sessions)
        for i in range(3)
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, later)
    assert_consistent(rt)
    e = BackendEvent
    with transaction(rt.sessions) as db:  # a group's every event of some sessions, one statement
        db.execute(delete(e).where(e.fingerprint == "fp0", e.session_id.in_([s.id for s in sessions[::2]])))
    assert_consistent(rt)
    with transaction(rt.sessions) as db:  # one event at a time
        for record in [f"b{n}-1" for n in range(8)]:
            db.execute(delete(e).where(e.provider_record_id == record))
    assert_consistent(rt)
    with transaction(rt.sessions) as db:  # the first and the last of a group in sessions it stays in
        db.execute(delete(e).where(e.provider_record_id.in_([f"a{n}-0" for n in range(8)])))
        db.execute(delete(e).where(e.provider_record_id.in_([f"a{n}-{n}" for n in range(4, 8)])))
    assert_consistent(rt)
    with transaction(rt.sessions) as db:
        db.execute(delete(e))
    assert stored(rt)["session_hours"] == {}


def _groups_from_events(
    rt: Runtime, project_id: int, start: datetime | None, end: datetime | None
) -> list[Any]:
    with transaction(rt.sessions) as db:
        rows = db.execute(
            select(BackendEvent.fingerprint, BackendEvent.session_id, BackendEvent.timestamp).where(
                BackendEvent.project_id == project_id
            )
        ).all()
    groups: dict[str, list[Any]] = {}
    for fingerprint, session_id, ts in rows:
        if (start is not None and ts < start) or (end is not None and ts >= end):
            continue
        entry = groups.setdefault(fingerprint, [0, set(), ts, ts])
        entry[0] += 1
        entry[1].add(session_id)
        entry[2], entry[3] = min(entry[2], ts), max(entry[3], ts)
    out = [(fp, n, len(s), lo, hi) for fp, (n, s, lo, hi) in groups.items()]
    return sorted(out, key=lambda g: (-g[1], g[0]))


def scatter_events(
    rt: Runtime,
    project_id: int,
    rng: random.Random,
    *,
    sessions: int,
    days: int,
    events: int,
    span: tuple[float, float],
    prefix: str,
    group: Callable[[], str],
) -> None:
    """``events`` events of ``sessions`` sessions started over the last ``days``, each ``span``
    seconds around its session's start, in the groups ``group`` draws."""
    started = [
        add_session(rt, project_id, NOW - timedelta(hours=rng.uniform(0, 24 * days))) for _ in range(sessions)
    ]
    rows = [
        event_row(
            project_id, s.id, group(), s.started_at + timedelta(seconds=rng.uniform(*span)), f"{prefix}{n}"
        )
        for n, s in enumerate(rng.choice(started) for _ in range(events))
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)


def test_groups_over_any_window_equal_the_events(rt: Runtime, seeded: Seeded) -> None:
    """Windows cut at days, hours and inside an hour, open on either side, paged two at a time."""
    rng = random.Random(11)
    scatter_events(
        rt,
        seeded.project_id,
        rng,
        sessions=15,
        days=6,
        events=600,
        span=(-3600, 5 * 3600),
        prefix="w",
        group=lambda: f"fp{min(int(rng.paretovariate(1.2)), 9)}",
    )
    midnight = NOW.replace(hour=0)
    windows: list[tuple[datetime | None, datetime | None]] = [
        (None, None),
        (None, midnight),
        (midnight - timedelta(days=2), None),
        (midnight - timedelta(days=3), midnight),
        (NOW - timedelta(hours=3), NOW),
        (NOW - timedelta(hours=30, minutes=17), NOW - timedelta(minutes=5)),
        (NOW - timedelta(minutes=50), NOW - timedelta(minutes=10)),
        (NOW, NOW),
    ]
    for _ in range(12):
        a, b = sorted(NOW - timedelta(seconds=rng.uniform(0, 7 * 86400)) for _ in range(2))
        windows.append((a, b))
    for start, end in windows:
        assert _paged_groups(rt, seeded.project_id, start, end, 2) == _groups_from_events(
            rt, seeded.project_id, start, end
        ), (start, end)


def _paged_groups(
    rt: Runtime, project_id: int, start: datetime | None, end: datetime | None, limit: int
) -> list[Any]:
    """Every group of the window through ``list_groups``, ``limit`` a page, with their samples."""
    got: list[Any] = []
    cursor = None
    with transaction(rt.sessions) as db:
        while True:
            filters = error_groups.GroupFilters(start=start, end=end)
            page = error_groups.list_groups(db, project_id, filters, limit=limit, cursor=cursor)
            got += [(g.fingerprint, g.count, g.sessions, g.first_seen, g.last_seen) for g in page.items]
            assert all(g.sample is not None for g in page.items)
            if page.next_cursor is None:
                return got
            cursor = page.next_cursor


def test_ranked_windows_equal_the_events_with_ties_and_long_spans(rt: Runtime, seeded: Seeded) -> None:
    """Windows ranked from bounds (day buckets; totals past 8 days) or from every group (a few
    hours), over 12 days of 40 groups whose counts often tie, paged 1 and 3 at a time."""
    rng = random.Random(17)
    scatter_events(
        rt,
        seeded.project_id,
        rng,
        sessions=40,
        days=12,
        events=900,
        span=(-600, 3 * 3600),
        prefix="t",
        group=lambda: f"fp{rng.choice([rng.randrange(40), rng.randrange(4)])}",
    )
    windows: list[tuple[datetime | None, datetime | None]] = [
        (NOW - timedelta(days=10, minutes=7), NOW - timedelta(minutes=3)),
        (NOW - timedelta(days=3, hours=5), NOW - timedelta(hours=2, minutes=30)),
        (None, NOW - timedelta(days=9, minutes=1)),
        (NOW - timedelta(days=2, seconds=1), None),
        (NOW - timedelta(days=30), NOW + timedelta(days=30)),
        (NOW + timedelta(days=1), NOW + timedelta(days=2)),
    ]
    for hours in (1.5, 5.9, 6, 6.1, 7, 25, 49):
        until = NOW - timedelta(seconds=rng.uniform(0, 10 * 86400))
        windows.append((until - timedelta(hours=hours), until))
    for start, end in windows:
        want = _groups_from_events(rt, seeded.project_id, start, end)
        for limit in (1, 3):
            assert _paged_groups(rt, seeded.project_id, start, end, limit) == want, (start, end, limit)


def test_ranking_reads_on_while_a_bound_can_still_tie(rt: Runtime, seeded: Seeded) -> None:
    """A group whose bound equals the page's last count can tie it and come first by fingerprint."""
    day = NOW.replace(hour=0)
    session = add_session(rt, seeded.project_id, day)
    outside, inside = day + timedelta(hours=1), day + timedelta(hours=7)
    plan = {"fp_x": (5, 5), "fp_z": (8, 1), "fp_a": (0, 5)}  # events before the window, in it
    rows = [
        event_row(seeded.project_id, session.id, fp, at + timedelta(seconds=i), f"{fp}-{at.hour}-{i}")
        for fp, counts in plan.items()
        for at, n in zip((outside, inside), counts, strict=True)
        for i in range(n)
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    start, end = day + timedelta(hours=6), day + timedelta(hours=30)
    with transaction(rt.sessions) as db:
        first = error_group_rollup.window(db, seeded.project_id, start, end, limit=1, cursor=None)
        rest = error_group_rollup.window(db, seeded.project_id, start, end, limit=5, cursor=(5, "fp_a"))
    assert [(g.fingerprint, g.count) for g in first] == [("fp_a", 5)]
    assert [(g.fingerprint, g.count) for g in rest] == [("fp_x", 5), ("fp_z", 1)]


def test_a_group_whose_events_the_window_subtracts_is_not_listed(rt: Runtime, seeded: Seeded) -> None:
    """An edge rounded to the hour before it counts that hour's bucket minus the events before the
    edge: a group with events only there counts 0 and is not a group of the window."""
    day = NOW.replace(hour=0)
    session = add_session(rt, seeded.project_id, day + timedelta(hours=10))
    plan = {"fp_before": [timedelta(hours=10, minutes=m) for m in (1, 5, 9)]}
    plan["fp_inside"] = [timedelta(hours=12), timedelta(hours=13, minutes=30)]
    plan["fp_after"] = [timedelta(hours=h, minutes=m) for h, m in ((14, 12), (14, 40), (40, 0))]
    rows = [
        event_row(seeded.project_id, session.id, fp, day + at, f"{fp}-{i}")
        for fp, times in plan.items()
        for i, at in enumerate(times)
    ]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    for hours in (4, 20):  # ranked from every group at once, and from bounds
        start = day + timedelta(hours=10, minutes=10)
        end = start + timedelta(hours=hours)
        want = _groups_from_events(rt, seeded.project_id, start, end)
        assert [g[0] for g in want] == (["fp_inside"] if hours == 4 else ["fp_after", "fp_inside"])
        for limit in (1, 5):
            assert _paged_groups(rt, seeded.project_id, start, end, limit) == want, (hours, limit)
