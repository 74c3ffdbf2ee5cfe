"""Error groups of words common alone but rare together, from a posting frame
(``store.posting_frames``): estimates near the truth that rank the right groups, pages that
neither skip nor repeat a group, filters applied to what is counted, exact counts when every
event of the looked-up words is read, and cursors checked."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from replaylink.runtime import Runtime
from replaylink.store import group_estimates, keyset, posting_frames
from replaylink.store.db import transaction
from replaylink.store.error_groups import GroupFilters, list_groups
from replaylink.store.models import BackendEvent
from replaylink.store.posting_frames import PostingFrame
from tests.backend_events import T0, add_session, every_page
from tests.conftest import Seeded

TOGETHER = {"g1": 100, "g2": 60, "g3": 30, "g4": 10}
"""Events whose message has both ``alpha`` and ``beta``, by group (of 3,000 in the project)."""
ALPHA_ONLY, BETA_ONLY, NEITHER = 300, 1300, 1200
TOLERANCE = 0.35
"""An estimated count is within this share of the true count (half the events of ``alpha`` are
read: a group of 60 matches is about 30 sampled ones, a standard deviation of ~10 %)."""


def seed(rt: Runtime, seeded: Seeded) -> dict[str, list[BackendEvent]]:
    """3,000 events in 60 sessions, in an order shuffled once (ids carry no pattern): ``alpha``
    in 500, ``beta`` in 1,500, both in 200 (``TOGETHER``; half of g2's from ``sentry``), and 200
    events of another project with both words. The matches of ``alpha beta``, by group."""
    sessions = [add_session(rt, seeded.project_id, T0 + timedelta(minutes=n)) for n in range(60)]
    other = add_session(rt, seeded.other_project_id, T0)
    kinds: list[tuple[str, str]] = [(group, "alpha beta") for group, n in TOGETHER.items() for _ in range(n)]
    kinds += [(f"g{1 + n % 6}", "alpha") for n in range(ALPHA_ONLY)]
    kinds += [(f"g{1 + n % 6}", "beta") for n in range(BETA_ONLY)]
    kinds += [(f"g{1 + n % 6}", "gamma") for n in range(NEITHER)]
    random.Random(17).shuffle(kinds)
    rows, matches = [], Counter[str]()
    for n, (group, words) in enumerate(kinds):
        provider = "sentry" if group == "g2" and words == "alpha beta" and matches["g2"] % 2 else "datadog"
        if words == "alpha beta":
            matches[group] += 1
        session = sessions[n % len(sessions)]
        rows.append(_event(session.project_id, session.id, n, group, words, provider))
    rows += [_event(other.project_id, other.id, n, "x", "alpha beta", "datadog") for n in range(200)]
    with transaction(rt.sessions) as db:
        db.add_all(rows)
    found: dict[str, list[BackendEvent]] = {}
    for row in rows:
        if row.project_id == seeded.project_id and row.message.startswith("alpha beta"):
            found.setdefault(row.fingerprint, []).append(row)
    return found


def _event(project_id: int, session_id: int, n: int, group: str, words: str, provider: str) -> BackendEvent:
    return BackendEvent(
        project_id=project_id,
        session_id=session_id,
        provider=provider,
        provider_record_id=f"{project_id}-{n}",
        timestamp=T0 + timedelta(minutes=n % 60, seconds=n),
        level="error",
        title="Fault",
        message=f"{words} while processing",
        exception_type="Fault",
        fingerprint=group,
        imported_at=T0,
    )


@pytest.fixture
def rare_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id frame of 100 ids (about 7 of ``alpha beta``'s 200 matches: too few); a posting frame
    reads up to 250 events, and may look up ``alpha`` (500 events) but not ``beta`` too."""
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 100)
    monkeypatch.setattr(posting_frames, "CANDIDATES", 250)
    monkeypatch.setattr(posting_frames, "MAX_CANDIDATES", 500)
    monkeypatch.setattr(posting_frames, "SCAN_US", {"sqlite": 1.0, "postgresql": 1.0})
    monkeypatch.setattr(posting_frames, "POSTINGS_BUDGET_US", {"sqlite": 1000.0, "postgresql": 1000.0})


def test_rare_together_words_are_estimated_from_the_rarest_words_events(
    rt: Runtime, seeded: Seeded, rare_together: None
) -> None:
    truth = seed(rt, seeded)
    groups = every_page(rt, seeded.project_id, GroupFilters(text="beta alpha"), limit=50)
    assert [g.fingerprint for g in groups[:3]] == ["g1", "g2", "g3"]  # ranked as the truth
    assert {g.fingerprint for g in groups} <= set(TOGETHER)  # no group without matches, none of "x"
    assert all(g.estimated for g in groups)
    for group in groups[:3]:
        true_count = len(truth[group.fingerprint])
        assert abs(group.count - true_count) <= TOLERANCE * true_count, (group.fingerprint, group.count)
        assert 1 <= group.sessions <= group.count
        assert group.sample is not None and group.sample.fingerprint == group.fingerprint
        assert "alpha beta" in group.sample.message
        assert min(e.timestamp for e in truth[group.fingerprint]) <= group.first_seen <= group.last_seen


def test_pages_of_a_posting_frame_neither_skip_nor_repeat_a_group(
    rt: Runtime, seeded: Seeded, rare_together: None
) -> None:
    seed(rt, seeded)
    filters = GroupFilters(text="alpha beta")
    whole = every_page(rt, seeded.project_id, filters, limit=50)
    with transaction(rt.sessions) as db:
        first = list_groups(db, seeded.project_id, filters, limit=1)
    assert first.next_cursor is not None
    assert keyset.decode(posting_frames.CURSOR, first.next_cursor, int, int, int, int, int, str)
    # Events stored after the first page are outside its frame.
    late = add_session(rt, seeded.project_id, T0 + timedelta(days=1))
    with transaction(rt.sessions) as db:
        db.add_all(
            [_event(seeded.project_id, late.id, 10_000 + n, "g9", "alpha beta", "datadog") for n in range(50)]
        )
    listed = [g.fingerprint for g in first.items]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        with transaction(rt.sessions) as db:
            page = list_groups(db, seeded.project_id, filters, limit=1, cursor=cursor)
        listed += [g.fingerprint for g in page.items]
        cursor = page.next_cursor
    assert listed == [g.fingerprint for g in whole]  # the same order, each group once
    assert len(set(listed)) == len(listed)
    assert "g9" not in listed


def test_filters_apply_to_what_a_posting_frame_counts(
    rt: Runtime, seeded: Seeded, rare_together: None
) -> None:
    truth = seed(rt, seeded)
    sentry = every_page(rt, seeded.project_id, GroupFilters(text="alpha beta", provider="sentry"), limit=50)
    assert [g.fingerprint for g in sentry] == ["g2"]  # only g2 has matches from sentry
    true_count = sum(e.provider == "sentry" for e in truth["g2"])
    assert abs(sentry[0].count - true_count) <= 2 * TOLERANCE * true_count  # 30 events: ~15 sampled
    assert sentry[0].sample is not None and sentry[0].sample.provider == "sentry"
    end = T0 + timedelta(minutes=30)  # the first half of the sessions' minutes
    early = every_page(rt, seeded.project_id, GroupFilters(text="alpha beta", end=end), limit=50)
    assert all(g.last_seen < end for g in early)
    for group in early[:2]:
        true_count = sum(e.timestamp < end for e in truth[group.fingerprint])
        assert abs(group.count - true_count) <= 2 * TOLERANCE * true_count, (group.fingerprint, group.count)
    other = every_page(rt, seeded.other_project_id, GroupFilters(text="alpha beta"), limit=50)
    assert [(g.fingerprint, g.estimated) for g in other] == [("x", True)]  # the frame is of every project
    assert abs(other[0].count - 200) <= TOLERANCE * 200


def test_a_posting_frame_that_reads_every_event_of_its_words_is_exact(
    rt: Runtime, seeded: Seeded, rare_together: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(posting_frames, "CANDIDATES", 2000)  # every event of alpha (500)
    monkeypatch.setattr(posting_frames, "MAX_CANDIDATES", 4000)
    truth = seed(rt, seeded)
    for limit in (50, 1):
        groups = every_page(rt, seeded.project_id, GroupFilters(text="alpha beta"), limit=limit)
        expected = sorted(truth.items(), key=lambda item: (-len(item[1]), item[0]))
        assert [(g.fingerprint, g.count, g.estimated) for g in groups] == [
            (group, len(events), False) for group, events in expected
        ]
        for group in groups:
            events = truth[group.fingerprint]
            assert group.sessions == len({e.session_id for e in events})
            assert (group.first_seen, group.last_seen) == (
                min(e.timestamp for e in events),
                max(e.timestamp for e in events),
            )
            assert group.sample is not None
            assert group.sample.timestamp == group.last_seen


def test_without_an_affordable_word_the_id_frame_estimates_stand(
    rt: Runtime, seeded: Seeded, rare_together: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded work: no lookup of every match whatever it costs; the groups the 100 sampled ids
    found, estimated (a group none of whose sampled events matches is not listed)."""
    monkeypatch.setattr(posting_frames, "POSTINGS_BUDGET_US", {"sqlite": 0.0, "postgresql": 0.0})
    seed(rt, seeded)
    groups = every_page(rt, seeded.project_id, GroupFilters(text="alpha beta"), limit=50)
    assert all(g.estimated for g in groups)
    assert {g.fingerprint for g in groups} <= set(TOGETHER)
    assert sum(g.count for g in groups) <= 3 * sum(TOGETHER.values())


def test_postgresql_refuses_a_cursor_whose_blocks_would_cover_too_many_ids(
    rt: Runtime, seeded: Seeded, rare_together: None, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """PostgreSQL reads every candidate in the blocks (the id index's ranges): a forged width is
    bounded by PG_BLOCK_IDS; SQLite stops reading at MAX_CANDIDATES whatever the width."""
    seed(rt, seeded)
    monkeypatch.setattr(posting_frames, "PG_BLOCK_IDS", 1000)
    wide = keyset.encode(posting_frames.CURSOR, 3, 1, 1, 3000, 11, "g1")  # 11 of every 12 ids
    narrow = keyset.encode(posting_frames.CURSOR, 3, 1, 1, 3000, 3, "g1")  # 750 ids
    with transaction(rt.sessions) as db:
        list_groups(db, seeded.project_id, GroupFilters(text="alpha beta"), limit=1, cursor=narrow)
        if db_url.startswith("postgresql"):
            with pytest.raises(keyset.InvalidCursor):
                list_groups(db, seeded.project_id, GroupFilters(text="alpha beta"), limit=1, cursor=wide)
        else:
            list_groups(db, seeded.project_id, GroupFilters(text="alpha beta"), limit=1, cursor=wide)


def test_the_frame_counts_the_ids_of_its_blocks() -> None:
    frame = PostingFrame(words=1, low=1, high=2560, width=3)  # stride 10: ids 1-3, 11-13, ...
    assert frame.stride == 10
    assert frame.blocks()[:2] == [(1, 3), (11, 13)] and len(frame.blocks()) == 256
    assert [frame.covered(end) for end in (1, 2, 4, 11, 12, 2561, 9999)] == [0, 1, 3, 3, 4, 768, 768]
    whole = PostingFrame(words=1, low=5, high=20, width=1)
    assert whole.whole and whole.blocks() == [(5, 20)] and whole.covered(21) == 16


@pytest.mark.parametrize(
    "parts",
    [
        (3, 0, 1, 3000, 5, "g1"),  # no word
        (3, 4, 1, 3000, 5, "g1"),  # a word q does not have
        (3, 1, 1, 3000, 13, "g1"),  # blocks wider than their stride (12)
        (3, 1, 1, 3000, 0, "g1"),
        (3, 1, 3000, 1, 5, "g1"),  # an empty span
        (3, 2, 1, 3000, 5, "g1"),  # beta: its postings cost more than twice the budget
    ],
)
def test_posting_frame_cursors_are_checked(
    rt: Runtime,
    seeded: Seeded,
    rare_together: None,
    monkeypatch: pytest.MonkeyPatch,
    parts: tuple[int, int, int, int, int, str],
) -> None:
    seed(rt, seeded)
    monkeypatch.setattr(posting_frames, "POSTINGS_BUDGET_US", {"sqlite": 600.0, "postgresql": 600.0})
    cursor = keyset.encode(posting_frames.CURSOR, *parts)
    with transaction(rt.sessions) as db, pytest.raises(keyset.InvalidCursor):
        list_groups(db, seeded.project_id, GroupFilters(text="alpha beta"), limit=1, cursor=cursor)
