"""Error groups with a text filter: groups every event of which has the words are counted from the
rollup (``store.group_words``), the others from their events; both give the events' counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replaylink.fingerprint import fingerprint
from replaylink.runtime import Runtime
from replaylink.store import group_words
from replaylink.store.db import transaction
from replaylink.store.error_groups import ErrorGroup, GroupFilters, list_groups
from replaylink.store.group_words import matches_all, title_words
from tests.backend_events import T0, add_event, add_session, every_page
from tests.conftest import Seeded


def words_of(title: str, group: str | None = None) -> frozenset[str] | None:
    return title_words("datadog", "ValueError", title, group or fingerprint("datadog", "ValueError", title))


def test_title_words_are_those_no_volatile_value_touches_on_the_left() -> None:
    words = words_of("Payment declined for order 1234 in Error36 [cart 0x1f] 'quoted thing' by 9ab")
    assert words is not None
    assert {"payment", "declined", "for", "order", "in", "error", "cart", "by"} <= words
    assert not words & {"1234", "error36", "quoted", "thing", "ab", "0x1f", "1f"}
    assert matches_all(words, ["PAY", "Err", "declined"])
    assert not matches_all(words, ["Error36"])  # other events of the group may say Error37
    assert not matches_all(words, ["pay", "quoted"])


def test_title_words_need_the_fingerprint_of_the_title() -> None:
    assert words_of("Payment declined", group="card") is None
    assert words_of("Payment declined", group=fingerprint("sentry", "ValueError", "Payment declined")) is None


def counts(groups: list[ErrorGroup]) -> list[tuple[str, int, int]]:
    return [(g.fingerprint, g.count, g.sessions) for g in groups]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("payment declined", {"declined": (3, 2), "fake": (1, 1)}),  # whole group, and counted
        ("pay order 1", {"declined": (2, 1)}),  # numbers are counted from the events
        ("declined card", {"declined": (2, 1), "fake": (1, 1)}),  # a word of messages only
        ("timeout", {"timeout": (2, 2)}),
        ("zzz", {}),
    ],
)
def test_whole_groups_count_as_their_events(
    rt: Runtime, seeded: Seeded, text_plan: str, q: str, expected: dict[str, tuple[int, int]]
) -> None:
    sessions = [add_session(rt, seeded.project_id, T0 + timedelta(minutes=n)) for n in range(3)]
    titles = {"declined": "Payment declined for order 12", "timeout": "Timeout after 30 s"}
    names = {fingerprint("datadog", "ValueError", title): name for name, title in titles.items()}
    names["fake"] = "fake"
    add_event(
        rt, sessions[0], title=titles["declined"], message="card refused", fingerprint=_fp(titles["declined"])
    )
    add_event(
        rt,
        sessions[0],
        title="Payment declined for order 13",
        message="card",
        fingerprint=_fp(titles["declined"]),
    )
    add_event(
        rt,
        sessions[1],
        title="Payment declined for order 77",
        message="bank",
        fingerprint=_fp(titles["declined"]),
    )
    add_event(rt, sessions[1], title="Timeout after 30 s", fingerprint=_fp(titles["timeout"]))
    add_event(rt, sessions[2], title="Timeout after 5 s", fingerprint=_fp(titles["timeout"]))
    # Not a fingerprint of its titles: counted from its events whatever its first title says.
    add_event(rt, sessions[2], title="Payment declined", message="card", fingerprint="fake")
    add_event(rt, sessions[2], title="Other", message="nothing", fingerprint="fake")
    other = add_session(rt, seeded.other_project_id)
    add_event(rt, other, title=titles["declined"], fingerprint=_fp(titles["declined"]))
    with transaction(rt.sessions) as db:
        page = list_groups(db, seeded.project_id, GroupFilters(text=q), limit=10)
    assert {names[g]: (n, s) for g, n, s in counts(page.items)} == expected
    assert all(g.sample is not None and g.sample.fingerprint == g.fingerprint for g in page.items)


def test_pages_mix_whole_and_counted_groups(rt: Runtime, seeded: Seeded, text_plan: str) -> None:
    session = add_session(rt, seeded.project_id)
    for n, name in enumerate(["alpha", "beta", "gamma", "delta"]):  # whole groups of 4, 3, 2, 1 events ...
        for k in range(4 - n):
            add_event(rt, session, title=f"Error {name} kind {k}", fingerprint=_fp(f"Error {name} kind 0"))
    for k in range(3):  # ... and a counted group of 3 (not its titles' fingerprint)
        add_event(rt, session, title=f"Error kind fake {k}", fingerprint="fake")
    pages = every_page(rt, seeded.project_id, GroupFilters(text="err kind"), limit=2)
    listed = [(g.count, g.fingerprint) for g in pages]
    assert [count for count, _ in listed] == [4, 3, 3, 2, 1]
    assert listed == sorted(listed, key=lambda item: (-item[0], item[1]))


def test_a_group_with_more_events_than_the_last_count_still_follows(
    rt: Runtime, seeded: Seeded, text_plan: str
) -> None:
    """A page ends at a count below every other group's total: a group with few matches among
    many events still comes next (it was dropped when no group's total followed the position)."""
    session = add_session(rt, seeded.project_id)
    for n in range(2):
        add_event(rt, session, title=f"Timeout {n}", message="connection reset", fingerprint="few")
    for n in range(6):
        message = "connection reset" if n == 0 else "nothing to see"
        add_event(rt, session, title=f"Crash {n}", message=message, fingerprint="many")
    listed = [
        (g.fingerprint, g.count) for g in every_page(rt, seeded.project_id, GroupFilters(text="reset"), 1)
    ]
    assert listed == [("few", 2), ("many", 1)]


def test_the_first_request_learns_each_groups_words(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_words, "_known", {})
    monkeypatch.setattr(group_words, "_unknown", set())
    session = add_session(rt, seeded.project_id)
    title = "Payment declined for order 12"
    add_event(rt, session, title=title, fingerprint=_fp(title))
    add_event(rt, session, title="x", fingerprint="fake")
    with transaction(rt.sessions) as db:
        known = group_words.known_words(db, seeded.project_id, [_fp(title), "fake", "absent"])
    assert known == {_fp(title): words_of(title)}
    assert "fake" in group_words._unknown


def _fp(title: str) -> str:
    return fingerprint("datadog", "ValueError", title)


@pytest.mark.parametrize("window", [False, True])
def test_a_provider_filter_counts_as_the_events(rt: Runtime, seeded: Seeded, window: bool) -> None:
    """Groups whose fingerprint hashes the provider come from the rollup, the others (a fingerprint
    given by other means, here of two providers) from their events: both as the events count."""
    sessions = [add_session(rt, seeded.project_id, T0 + timedelta(hours=n)) for n in range(3)]
    title = "Payment declined for order 12"
    hashed = {provider: fingerprint(provider, "ValueError", title) for provider in ("datadog", "sentry")}
    for n, session in enumerate(sessions):  # datadog: 3 events in 3 sessions, sentry: 2 in 2
        add_event(rt, session, title=title, fingerprint=hashed["datadog"])
        if n:
            add_event(rt, session, provider="sentry", title=title, fingerprint=hashed["sentry"])
    add_event(rt, sessions[0], title=title, fingerprint="fake")
    add_event(rt, sessions[2], provider="sentry", title=title, fingerprint="fake")
    add_event(rt, sessions[2], provider="sentry", title=title, fingerprint="fake")
    start, end = (T0 + timedelta(minutes=30), T0 + timedelta(hours=3)) if window else (None, None)
    expected = {
        "datadog": [(hashed["datadog"], 2, 2), ("fake", 0, 0)]
        if window
        else [(hashed["datadog"], 3, 3), ("fake", 1, 1)],
        "sentry": [("fake", 2, 1), (hashed["sentry"], 2, 2)],
        "cloudwatch": [],
    }
    for provider, groups in expected.items():
        wanted = sorted([g for g in groups if g[1]], key=lambda g: (-g[1], g[0]))
        filters = GroupFilters(start=start, end=end, provider=provider)
        with transaction(rt.sessions) as db:
            page = list_groups(db, seeded.project_id, filters, limit=50)
            assert counts(page.items) == wanted
            assert all(g.sample is not None and g.sample.provider == provider for g in page.items)
        assert counts(every_page(rt, seeded.project_id, filters, 1)) == wanted  # a group a page
    with transaction(rt.sessions) as db:
        known = group_words.known_providers(db, seeded.project_id, [*hashed.values(), "fake"])
    assert known == {hashed["datadog"]: "datadog", hashed["sentry"]: "sentry"}
