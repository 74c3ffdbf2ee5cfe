"""Text search (``q``) with bounded work: the session list's partial pages and their cursors, and
error groups estimated from a sample (budgets lowered here; small data never reaches them)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from replaylink.runtime import Runtime
from replaylink.store import group_estimates, keyset, sessions_query
from replaylink.store.db import transaction
from replaylink.store.error_groups import GroupFilters, list_groups
from replaylink.store.sessions_query import SessionFilters, list_sessions
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded
from tests.test_backend_errors_api import groups_url
from tests.test_sessions_api import get, sessions_url


def seed_sessions(rt: Runtime, project_id: int) -> list[int]:
    """Eight sessions (oldest first), one event each; those at 0, 2, 3, 5 and 7 say "reset"."""
    ids = []
    for n in range(8):
        session = add_session(rt, project_id, T0 + timedelta(minutes=n))
        message = "connection reset" if n in (0, 2, 3, 5, 7) else "nothing to see"
        add_event(rt, session, title=f"Timeout {n}", message=message, fingerprint="g")
        ids.append(session.id)
    return ids


def test_a_walk_that_runs_out_of_time_answers_what_it_found_and_where_it_stopped(
    rt: Runtime, seeded: Seeded, text_plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_query, "FIRST_STRETCH", 3)
    monkeypatch.setattr(sessions_query, "LISTED_STRETCH_FACTOR", 1)  # the filtered walk's too
    ids = seed_sessions(rt, seeded.project_id)
    started = {session_id: T0 + timedelta(minutes=n) for n, session_id in enumerate(ids)}
    pages = []
    cursor = None
    with transaction(rt.sessions) as db:
        while True:
            page = list_sessions(
                db, seeded.project_id, SessionFilters(text="reset"), limit=2, cursor=cursor, budget=0.0
            )  # stop after each stretch
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    listed = [s.session.id for page in pages for s in page.items]
    assert listed == [ids[7], ids[5], ids[3], ids[2], ids[0]]  # every match once, newest first
    if text_plan in ("few", "candidates"):  # the matches' ids are known: no walk, exact pages
        assert [[s.session.id for s in page.items] for page in pages] == [
            [ids[7], ids[5]],
            [ids[3], ids[2]],
            [ids[0]],
        ]
        assert all(page.searched_to is None for page in pages)
        return
    # Three sessions a request: 7-5, 4-2, 1 and 0 (the last stretch reaches the end).
    assert [[s.session.id for s in page.items] for page in pages] == [
        [ids[7], ids[5]],
        [ids[3], ids[2]],
        [ids[0]],
    ]
    assert [page.searched_to for page in pages] == [started[ids[5]], started[ids[2]], None]


def test_a_short_page_resumes_past_the_sessions_it_searched(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_query, "FIRST_STRETCH", 2)
    monkeypatch.setattr(sessions_query, "LISTED_STRETCH_FACTOR", 1)
    monkeypatch.setattr("replaylink.store.text_search.FEW_MATCHES", 0)  # walk
    ids = seed_sessions(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        first = list_sessions(db, seeded.project_id, SessionFilters(text="reset"), limit=5, budget=0.0)
        assert [s.session.id for s in first.items] == [ids[7]]  # sessions 7 and 6 searched
        assert first.searched_to == T0 + timedelta(minutes=6)
        assert first.next_cursor == keyset.encode(sessions_query.SESSIONS_CURSOR, first.searched_to, ids[6])
        second = list_sessions(
            db, seeded.project_id, SessionFilters(text="reset"), limit=5, cursor=first.next_cursor, budget=0.0
        )
        assert [s.session.id for s in second.items] == [ids[5]]  # 5 and 4
        # Other filters keep applying; the time range bounds the stretches.
        window = SessionFilters(text="reset", end=T0 + timedelta(minutes=4))
        ranged = list_sessions(db, seeded.project_id, window, limit=5, budget=0.0)
        assert [s.session.id for s in ranged.items] == [ids[3], ids[2]]
        assert ranged.searched_to == T0 + timedelta(minutes=2)


def seed_groups(rt: Runtime, project_id: int) -> None:
    """Twelve events (ids 1-12): group a has 1-5, b 6-9, c 10-12; all say "reset" but 9."""
    session = add_session(rt, project_id)
    for n in range(1, 13):
        group = "a" if n <= 5 else "b" if n <= 9 else "c"
        message = "nothing to see" if n == 9 else "connection reset"
        add_event(rt, session, timedelta(seconds=n), title="Timeout", message=message, fingerprint=group)


@pytest.mark.parametrize("text_plan", ["many", "walk", "filtered"], indirect=True)
def test_groups_of_many_matches_are_estimated_from_a_fixed_sample(
    rt: Runtime, seeded: Seeded, text_plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 4)  # ids 1, 4, 7 and 10: 3 ids each
    monkeypatch.setattr(group_estimates, "MIN_SAMPLED", 1)  # enough to estimate from
    seed_groups(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        page = list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=50)
        figures = [(g.fingerprint, g.count, g.sessions, g.estimated) for g in page.items]
        assert figures == [("a", 6, 1, True), ("b", 3, 1, True), ("c", 3, 1, True)]
        assert all(g.sample is not None and g.sample.fingerprint == g.fingerprint for g in page.items)
        assert page.items[0].first_seen == T0 + timedelta(seconds=1)  # the sampled matches' span
        assert page.items[0].last_seen == T0 + timedelta(seconds=4)
        assert page.next_cursor is None
    # One group a page: the same order, each group once, whatever is stored meanwhile.
    listed: list[str] = []
    cursor = None
    while True:
        with transaction(rt.sessions) as db:
            one = list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=1, cursor=cursor)
        listed += [g.fingerprint for g in one.items]
        if one.next_cursor is None:
            break
        cursor = one.next_cursor
        if len(listed) == 1:  # events stored after the first page are outside its sample
            session = add_session(rt, seeded.project_id, T0 + timedelta(hours=1))
            for _ in range(6):
                add_event(rt, session, title="Timeout", message="connection reset", fingerprint="d")
    assert listed == ["a", "b", "c"]
    with transaction(rt.sessions) as db:  # a new listing samples them
        again = list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=50)
    assert "d" in [g.fingerprint for g in again.items]


def test_groups_are_exact_when_the_sample_would_read_every_event(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("replaylink.store.text_search.FEW_MATCHES", 0)  # many matches
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 12)
    seed_groups(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        page = list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=50)
    assert [(g.fingerprint, g.count, g.estimated) for g in page.items] == [
        ("a", 5, False),
        ("b", 3, False),
        ("c", 3, False),
    ]


@pytest.mark.parametrize(
    "parts",
    [
        (3, 1, 12, 5, "a"),  # another sample size than the one handed out
        (3, 12, 1, 4, "a"),  # an empty frame
        (3, -5, 12, 4, "a"),
        (3, 1, 3, 4, "a"),  # fewer ids than sampled
    ],
)
def test_estimated_cursors_are_checked(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, parts: tuple[int, int, int, int, str]
) -> None:
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 4)
    cursor = keyset.encode(group_estimates.CURSOR, *parts)
    with transaction(rt.sessions) as db, pytest.raises(keyset.InvalidCursor):
        list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=1, cursor=cursor)


def test_the_api_says_how_far_a_search_went_and_which_counts_are_estimated(
    client: TestClient, rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt.settings, "search_budget_ms", 0.0)  # REPLAYLINK_SEARCH_BUDGET_MS=0
    monkeypatch.setattr(sessions_query, "FIRST_STRETCH", 2)
    monkeypatch.setattr(sessions_query, "LISTED_STRETCH_FACTOR", 1)
    monkeypatch.setattr("replaylink.store.text_search.FEW_MATCHES", 0)
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 4)
    monkeypatch.setattr(group_estimates, "MIN_SAMPLED", 1)
    ids = seed_sessions(rt, seeded.project_id)  # events 1-8, one a session
    first = get(client, seeded, sessions_url(seeded.project_id), q="reset", limit=5)
    assert [row["id"] for row in first["sessions"]] == [str(ids[7])]
    assert first["searched_to"].startswith("2026-03-02T10:06:00")
    rest = get(
        client, seeded, sessions_url(seeded.project_id), q="reset", limit=5, cursor=first["next_cursor"]
    )
    assert [row["id"] for row in rest["sessions"]] == [str(ids[5])]
    plain = get(client, seeded, sessions_url(seeded.project_id), limit=5)
    assert plain["searched_to"] is None  # only a text search stops early
    groups = get(client, seeded, groups_url(seeded.project_id), q="reset")
    # Sampled ids 1, 3, 5 and 7 (2 ids each): 1 and 3 say "reset" (sessions 0 and 2).
    assert [(g["fingerprint"], g["count"], g["estimated"]) for g in groups["groups"]] == [("g", 4, True)]
    exact = get(client, seeded, groups_url(seeded.project_id))
    assert [(g["count"], g["estimated"]) for g in exact["groups"]] == [(8, False)]
    forged = keyset.encode(group_estimates.CURSOR, 6, 1, 8, 10**9, "g")
    response = client.get(
        groups_url(seeded.project_id), params={"q": "reset", "cursor": forged}, headers=seeded.auth()
    )
    assert response.status_code == 422


def test_too_few_sampled_matches_are_counted_exactly_when_a_lookup_finds_them(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 4)  # 3 or 4 sampled matches: under MIN_SAMPLED
    monkeypatch.setattr("replaylink.store.text_search.LOOKUP_BUDGET_US", -1.0)  # a bounded search walks
    seed_groups(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        page = list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=2)
        assert [(g.fingerprint, g.count, g.estimated) for g in page.items] == [
            ("a", 5, False),
            ("b", 3, False),
        ]
        rest = list_groups(
            db, seeded.project_id, GroupFilters(text="reset"), limit=2, cursor=page.next_cursor
        )
    assert [(g.fingerprint, g.count, g.estimated) for g in rest.items] == [("c", 3, False)]


@pytest.mark.parametrize("why", ["lookup too dear", "matches no longer few"])
def test_a_cursor_of_exact_counts_does_not_count_many_matches(
    client: TestClient, rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """A cursor of exact counts (as a first page of few matches hands out, or as a client makes
    one up) with a text that matches many events: refused (start again), not every match counted
    through a lookup whatever it costs."""
    monkeypatch.setattr("replaylink.store.text_search.FEW_MATCHES", 0)  # many matches
    monkeypatch.setattr(group_estimates, "SAMPLE_IDS", 4)  # more events than a sample reads
    if why == "lookup too dear":
        monkeypatch.setattr("replaylink.store.text_search.EXACT_LOOKUP_US", -1.0)
    seed_groups(rt, seeded.project_id)
    cursor = keyset.encode("g", 5, "a")
    with transaction(rt.sessions) as db, pytest.raises(keyset.InvalidCursor):
        list_groups(db, seeded.project_id, GroupFilters(text="reset"), limit=1, cursor=cursor)
    response = client.get(
        groups_url(seeded.project_id), params={"q": "reset", "cursor": cursor}, headers=seeded.auth()
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"
