"""Text search (``q``): the per-event check, the word sample and the plan each request picks."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import NotRequired, TypedDict

import pytest

from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import text_search
from replaylink.store.db import transaction
from replaylink.store.error_groups import GroupFilters, list_groups
from replaylink.store.sessions_query import SessionFilters, list_sessions
from replaylink.store.text_search import MESSAGE_CHARS, WordSample, has_words, lookup_words, word_sample
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded

BUDGET = Settings.model_fields["search_budget_ms"].default / 1000
"""The session list's search budget (seconds) as served by default."""


def check(title: str, message: str, *words: str) -> bool:
    return bool(has_words(title, message, json.dumps(list(words))))


@pytest.mark.parametrize(
    ("words", "found"),
    [
        (["declined"], True),  # a word of the title
        (["issuer"], True),  # of the message
        (["DECLINED", "Issuer"], True),  # any case, both fields
        (["pay"], True),  # the start of a word
        (["clined"], False),  # not its middle
        (["cart"], True),  # punctuation and "_" separate words
        (["id"], True),
        (["handlers"], True),
        (["e4"], True),
        (["42"], False),  # "E42" is one word
        (["declined", "nowhere"], False),  # every word
        (["ошибка"], True),  # letters of any script, any case
        (["cafe"], False),  # accents matter
        (["café", "crème"], True),
    ],
)
def test_has_words_finds_the_start_of_words(words: list[str], found: bool) -> None:
    title = "Payment declined: ОШИБКА"
    message = "card declined by issuer; key 'cart_id' in app.handlers [code=E42] café crème"
    assert check(title, message, *words) is found


def test_has_words_reads_the_indexed_part_of_the_message() -> None:
    message = "x" * (MESSAGE_CHARS - 6) + " early late"
    assert check("", message, "early")
    assert not check("", message, "late")  # after the first MESSAGE_CHARS characters, as indexed
    assert not check("", None, "x")  # type: ignore[arg-type]


def test_word_sample_estimates_events_per_word_start() -> None:
    texts = [("Payment declined", "card"), ("payments down", "pay later"), ("Timeout", None)]
    sample = WordSample.of(texts, events=300)
    assert sample.events_starting("payment") == 200  # two of three sampled events, of 300 stored
    assert sample.events_starting("PAYMENTS") == 100
    assert sample.events_starting("pay") == 300  # an event with two such words counts twice
    assert sample.events_starting("timeout") == 100
    assert sample.events_starting("z") == 0
    assert WordSample.of([], events=0).events_starting("pay") == 0


def test_lookup_words_picks_rare_words_and_walks_common_ones() -> None:
    n = 1_000_000
    # A rare word is looked up; a common one is checked on its events.
    assert lookup_words("sqlite", {"failure": n, "1234": 80}, n) == ["1234"]
    # Words in many events (together): a walk along sessions stops at the first page.
    assert lookup_words("sqlite", {"connection": n, "reset": n}, n) is None
    assert lookup_words("postgresql", {"error3": 20_000}, n) is None
    # Words no sampled event has: looked up (the index answers "none" at once).
    assert lookup_words("sqlite", {"timeout": 0}, n) == ["timeout"]
    # Common words rare together: the rarest one's events are the candidates.
    assert lookup_words("sqlite", {"handler": n, "error3": 20_000, "7": 200_000}, n) == ["error3"]


def test_word_sample_estimates_words_together_from_its_events() -> None:
    texts = [("Error36 handler 2", "x"), ("Error36 handler 3", "y"), ("Error7 handler 2", None), ("z", "")]
    sample = WordSample.of(texts, events=400)
    assert sample.events_with_all(["error36", "handler"]) == 200  # together, not 200 * 300 / 400
    assert sample.events_with_all(["Error", "2"]) == 200
    assert sample.events_with_all(["error36", "2"]) == 100
    assert sample.events_with_all(["error7", "3"]) == 50  # none sampled: half an event
    assert WordSample.of([], events=0).events_with_all(["x"]) == 0


def test_filter_words_walks_with_a_rare_words_list_on_sqlite() -> None:
    n = 1_000_000
    estimates: dict[str, float] = {"handler": n, "error36": 10_000, "2": 250_000}
    together = {("error36",): 10_000.0, ("error36", "2"): 4_000.0}

    def joint(words: Sequence[str]) -> float:
        return together.get(tuple(sorted(words, key=estimates.__getitem__)), 4_000.0)

    # Common words rare together, several in each page's stretch of sessions: walk with the rare
    # word's list, rather than read and check each of its 10,000 events.
    assert text_search.filter_words("sqlite", estimates, n, joint) == ["error36"]
    assert text_search.lookup_words("sqlite", estimates, n, joint) == ["error36"]
    # Too rare together: the walk would be long; its candidates are checked instead.
    assert text_search.filter_words("sqlite", estimates, n, lambda _: 50.0) == []
    # PostgreSQL reads each walked event anyway.
    assert text_search.filter_words("postgresql", estimates, n, joint) == []


def test_word_sample_reads_stored_events(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_search, "SAMPLE_SECONDS", 0.0)  # take it again on every call
    session = add_session(rt, seeded.project_id)
    for n in range(4):
        add_event(rt, session, title=f"Timeout {n}", message="upstream said: connection reset")
    with transaction(rt.sessions) as db:
        sample = word_sample(db)
    assert sample.events == 4
    assert sample.events_starting("conn") == 4
    assert sample.events_starting("nothing") == 0


@pytest.mark.parametrize(("q", "expected"), [("rare", [0, 2]), ("rare upstream", [2]), ("rare nothing", [])])
def test_a_word_the_sample_saw_once_is_looked_up_when_its_events_are_few(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, q: str, expected: list[int]
) -> None:
    """A word one event of the word sample has is estimated at that event's share of the table
    (here 5,000 of 10M): checking as many costs more than a request's budget, but the lookup
    reads its events (at most as many as the budget checks) and finds them few: their ids,
    not a walk."""
    sessions = [add_session(rt, seeded.project_id, T0 + timedelta(minutes=n)) for n in range(4)]
    for n, session in enumerate(sessions):
        message = ("rare " if n in (0, 2) else "") + ("upstream said no" if n >= 2 else "timeout")
        add_event(rt, session, title="Checkout failed", message=message)
    texts = [("Checkout failed", "timeout")] * 1999 + [("Checkout failed", "rare upstream")]
    monkeypatch.setitem(text_search._samples, str(rt.engine.url), WordSample.of(texts, 10_000_000))
    with transaction(rt.sessions) as db:
        search = text_search.search_text(db, q)
        page = list_sessions(db, seeded.project_id, SessionFilters(text=q), limit=50, budget=BUDGET)
    assert search.few
    assert sorted(s.session.id for s in page.items) == sorted(sessions[n].id for n in expected)


class Texts(TypedDict):
    """An event's searched fields, as ``add_event`` takes them."""

    title: str
    message: str
    service: NotRequired[str]
    host: NotRequired[str]


def seed(rt: Runtime, project_id: int) -> dict[str, int]:
    """Sessions a (oldest) to d, one event each, different words in different fields."""
    texts: dict[str, Texts] = {
        "a": {"title": "Payment declined", "message": "card declined by issuer"},
        "b": {"title": "KeyError: 'cart_id'", "message": "x" * MESSAGE_CHARS + " hidden"},
        "c": {"title": "Timeout", "message": "upstream said: connection reset", "service": "checkout"},
        "d": {"title": "Payment failed", "message": "issuer unavailable", "host": "web-7"},
    }
    ids = {}
    for minutes, (name, fields) in enumerate(texts.items()):
        session = add_session(rt, project_id, T0 + timedelta(minutes=minutes))
        add_event(rt, session, exception_type="DeadlockDetected", fingerprint=name, **fields)
        ids[name] = session.id
    return ids


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("payment", ["d", "a"]),  # title, newest first
        ("issuer", ["d", "a"]),  # message
        ("keyerror", ["b"]),  # the exception type, as the title says it
        ("payment issuer declined", ["a"]),  # every word, in either field
        ("connection reset", ["c"]),
        ("hidden", []),  # past the indexed part of the message
        ("checkout", []),  # fields that are not searched: service, host, exception type alone
        ("web", []),
        ("deadlock", []),
        ("ment", []),  # no false positive from the middle of a word
    ],
)
def test_each_plan_gives_the_same_sessions_and_groups(
    rt: Runtime, seeded: Seeded, text_plan: str, q: str, expected: list[str]
) -> None:
    ids = seed(rt, seeded.project_id)
    theirs = add_session(rt, seeded.other_project_id, T0 + timedelta(hours=1))
    add_event(rt, theirs, title="Payment declined", message="issuer connection reset hidden")
    names = {session_id: name for name, session_id in ids.items()}
    with transaction(rt.sessions) as db:
        page = list_sessions(db, seeded.project_id, SessionFilters(text=q), limit=50, budget=BUDGET)
        groups = list_groups(db, seeded.project_id, GroupFilters(text=q), limit=50)
    assert [names[s.session.id] for s in page.items] == expected
    assert sorted(g.fingerprint for g in groups.items) == sorted(expected)
    assert all(g.count == 1 and g.sample is not None for g in groups.items)


def test_pages_of_a_common_word_in_each_plan(rt: Runtime, seeded: Seeded, text_plan: str) -> None:
    sessions = [add_session(rt, seeded.project_id, T0 + timedelta(minutes=n)) for n in range(5)]
    for n, session in enumerate(sessions):
        add_event(rt, session, title=f"Timeout {n}", message="connection reset", fingerprint=f"g{n % 2}")
        add_event(rt, session, title="Other", message="nothing to see", fingerprint="other")
    listed: list[int] = []
    cursor = None
    with transaction(rt.sessions) as db:
        while True:
            text = SessionFilters(text="reset conn")
            page = list_sessions(db, seeded.project_id, text, limit=2, cursor=cursor, budget=BUDGET)
            listed += [s.session.id for s in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        groups = list_groups(db, seeded.project_id, GroupFilters(text="reset conn"), limit=50)
    assert listed == [s.id for s in reversed(sessions)]
    assert [(g.fingerprint, g.count, g.sessions) for g in groups.items] == [("g0", 3, 3), ("g1", 2, 2)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("4e5e", ["a"]),  # PostgreSQL's parser reads "4e5e9a12" as the number 4e5, then e9a12
        ("4E5E9", ["a"]),
        ("4e5", ["a", "b", "c"]),
        ("4e51e", ["b"]),
        ("4e5e9a12 request", ["a"]),
        ("1e9d", []),
    ],
)
def test_words_that_start_with_a_number_in_scientific_notation(
    rt: Runtime, seeded: Seeded, text_plan: str, q: str, expected: list[str]
) -> None:
    """Every plan on both databases: a word of ``q`` starts a word of the text, whatever
    PostgreSQL's parser makes of a leading ``4e5`` (its index is asked for the number, the rest
    checked on the events that have it)."""
    messages = {"a": "request_id=4e5e9a12 failed", "b": "request_id=4e51e9 failed", "c": "took 4e5 ms"}
    names = {}
    for n, (name, message) in enumerate(messages.items()):
        session = add_session(rt, seeded.project_id, T0 + timedelta(minutes=n))
        add_event(rt, session, title="Upstream failed", message=message, fingerprint=name)
        names[session.id] = name
    with transaction(rt.sessions) as db:
        page = list_sessions(db, seeded.project_id, SessionFilters(text=q), limit=50, budget=BUDGET)
        groups = list_groups(db, seeded.project_id, GroupFilters(text=q), limit=50)
    assert sorted(names[s.session.id] for s in page.items) == expected
    assert sorted(g.fingerprint for g in groups.items) == expected


def test_a_stale_word_sample_is_taken_again_in_the_background(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = add_session(rt, seeded.project_id)
    add_event(rt, session, title="Timeout", message="upstream said: connection reset")
    with transaction(rt.sessions) as db:
        key = str(db.get_bind().engine.url)
        monkeypatch.setitem(text_search._samples, key, WordSample.of([("Other", "")], events=1))
        monkeypatch.setattr(text_search, "SAMPLE_SECONDS", 60.0)
        stale = text_search._samples[key] = replace(text_search._samples[key], taken_at=time.monotonic() - 90)
        assert word_sample(db) is stale  # served while a thread takes the new one
    deadline = time.monotonic() + 10
    while text_search._samples[key] is stale and time.monotonic() < deadline:
        time.sleep(0.01)
    with transaction(rt.sessions) as db:
        assert word_sample(db).events_starting("conn") == 1
        text_search._samples[key] = replace(text_search._samples[key], taken_at=time.monotonic() - 130)
        assert word_sample(db).events_starting("timeout") == 1  # too old to serve: taken at once
