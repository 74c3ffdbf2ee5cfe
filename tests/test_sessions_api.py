"""Session list and detail: filters, keyset pagination edges, timeline placement, project isolation."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from replaylink.runtime import Runtime
from replaylink.store import events
from replaylink.store import integrations as integrations_store
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent, Integration, Project, RecordedSession
from replaylink.store.text_search import FTS_TABLE
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded


def sessions_url(project_id: int, suffix: str = "") -> str:
    return f"/api/v1/projects/{project_id}/sessions{suffix}"


def get(client: TestClient, seeded: Seeded, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params, headers=seeded.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed_ids(client: TestClient, seeded: Seeded, **params: Any) -> list[str]:
    body = get(client, seeded, sessions_url(seeded.project_id), **params)
    return [row["id"] for row in body["sessions"]]


def test_list_rows_newest_first_with_counts_and_first_error(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    old = add_session(rt, seeded.project_id, T0, user_id="u-1")
    new = add_session(rt, seeded.project_id, T0 + timedelta(hours=1), seen_for=timedelta(seconds=90))
    add_event(rt, new, timedelta(seconds=50), provider="sentry", title="KeyError: 'cart'")
    add_event(rt, new, timedelta(seconds=10), provider="datadog", title="Timeout talking to payments")
    add_event(rt, new, timedelta(seconds=20), provider="datadog", title="Retry failed")

    body = get(client, seeded, sessions_url(seeded.project_id))

    assert body["next_cursor"] is None
    first, second = body["sessions"]
    assert first["id"] == str(new.id) and second["id"] == str(old.id)
    assert isinstance(first["id"], str) and int(first["id"]) == new.id
    assert first["duration_ms"] == 90_000
    assert first["backend_events"] == 3
    assert first["backend_events_by_provider"] == {"datadog": 2, "sentry": 1}
    assert first["first_error_title"] == "Timeout talking to payments"
    assert first["page_url"] == "https://shop.example/cart"
    assert second["backend_events"] == 0 and second["first_error_title"] is None
    assert second["user_id"] == "u-1"


def test_filters(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    quiet = add_session(rt, seeded.project_id, T0, user_id="alice")
    dd = add_session(rt, seeded.project_id, T0 + timedelta(minutes=10), user_id="bob")
    sentry = add_session(rt, seeded.project_id, T0 + timedelta(minutes=20), user_id="alice")
    add_event(rt, dd, provider="datadog", title="Payment declined", message="card 100% declined")
    add_event(rt, sentry, provider="sentry", title="KeyError", message="missing key 'cart_id'")

    assert listed_ids(client, seeded, has_backend_errors=True) == [str(sentry.id), str(dd.id)]
    assert listed_ids(client, seeded, has_backend_errors=False) == [str(quiet.id)]
    assert listed_ids(client, seeded, provider="sentry") == [str(sentry.id)]
    assert listed_ids(client, seeded, q="PAYMENT") == [str(dd.id)]  # case-insensitive, title
    assert listed_ids(client, seeded, q="CART_ID") == [str(sentry.id)]  # message
    assert listed_ids(client, seeded, q="100%") == [str(dd.id)]  # % is literal, not a wildcard
    assert listed_ids(client, seeded, q="1_0") == []  # _ is literal too
    assert listed_ids(client, seeded, provider="datadog", q="KeyError") == []  # one event matches both
    assert listed_ids(client, seeded, user_id="alice") == [str(sentry.id), str(quiet.id)]
    window = {"from": (T0 + timedelta(minutes=5)).isoformat(), "to": (T0 + timedelta(minutes=20)).isoformat()}
    assert listed_ids(client, seeded, **window) == [str(dd.id)]  # from inclusive, to exclusive
    naive = {"from": "2026-03-02T10:10:00"}  # naive means UTC
    assert listed_ids(client, seeded, **naive) == [str(sentry.id), str(dd.id)]


def seed_texts(rt: Runtime, project_id: int) -> dict[str, str]:
    """Sessions s1..s4 (s4 newest) with one event each, and s5 without events."""
    texts = {
        "s1": ("Payment declined", "card 100% declined by issuer"),
        "s2": ("KeyError: 'cart_id'", "missing key 'cart_id' in app.handlers.checkout"),
        "s3": (
            "Timeout talking to payments",
            "upstream (payments-api) said: NEAR limit; retry *later* [code=E42]",
        ),
        "s4": ("Ошибка оплаты", "Zażółć gęślą jaźń — café crème"),
    }
    ids = {}
    for minutes, (name, (title, message)) in enumerate(texts.items()):
        session = add_session(rt, project_id, T0 + timedelta(minutes=minutes))
        add_event(rt, session, title=title, message=message)
        ids[name] = str(session.id)
    ids["s5"] = str(add_session(rt, project_id, T0 + timedelta(minutes=9)).id)
    return ids


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("declined", ["s1"]),  # a word of the title
        ("issuer", ["s1"]),  # of the message
        ("ISSUER Payment", ["s1"]),  # any case; every word, in the title or the message
        ("card timeout", []),  # both words in one event, not one in each session
        ("pay", ["s3", "s1"]),  # the start of a word ("Payment", "payments")
        ("clined", []),  # not the middle of one
        ("cart_id", ["s2"]),  # punctuation separates words: "cart" and "id"
        ("'cart_id'", ["s2"]),
        ('"missing key"', ["s2"]),
        ("app.handlers", ["s2"]),
        ("handlers.checkout", ["s2"]),
        ("100%", ["s1"]),
        ("retry *later*", ["s3"]),  # no wildcards
        ("later*", ["s3"]),
        ("payments-api", ["s3"]),  # no negation
        ("-payments", ["s3"]),
        ("NOT timeout", []),  # no operators: "not" is a word to find
        ("timeout OR card", []),
        ("timeout & !card", []),
        ("AND", []),
        ("near", ["s3"]),  # NEAR is a word
        ("NEAR(timeout, retry)", ["s3"]),
        ("(payments)", ["s3"]),
        ("said:", ["s3"]),  # no column filters or tsquery syntax
        ("code:E42", ["s3"]),
        ("payments:*", ["s3"]),
        ("[code=e4]", ["s3"]),
        ("ошибка", ["s4"]),  # unicode letters, any case
        ("ОПЛАТЫ", ["s4"]),
        ("ZAŻÓŁĆ jaźń", ["s4"]),
        ("café crème", ["s4"]),
        ("cafe", []),  # accents matter
        (" ".join(["declined"] * 22), ["s1"]),  # 197 characters
        (" ".join(f"w{i}" for i in range(66))[:200], []),  # many words, at the bound
    ],
)
def test_q_finds_words_of_titles_and_messages(
    client: TestClient, rt: Runtime, seeded: Seeded, text_plan: str, q: str, expected: list[str]
) -> None:
    ids = seed_texts(rt, seeded.project_id)
    theirs = add_session(rt, seeded.other_project_id, T0 + timedelta(hours=1))
    add_event(rt, theirs, title="Payment declined", message="card 100% declined by issuer")

    assert listed_ids(client, seeded, q=q) == [ids[name] for name in expected]


def test_q_pages_and_combines_with_other_filters(
    client: TestClient, rt: Runtime, seeded: Seeded, text_plan: str
) -> None:
    ids = seed_texts(rt, seeded.project_id)
    first = get(client, seeded, sessions_url(seeded.project_id), q="pay", limit=1)
    assert [row["id"] for row in first["sessions"]] == [ids["s3"]]
    second = get(
        client, seeded, sessions_url(seeded.project_id), q="pay", limit=1, cursor=first["next_cursor"]
    )
    assert [row["id"] for row in second["sessions"]] == [ids["s1"]] and second["next_cursor"] is None
    assert listed_ids(client, seeded, q="pay", provider="sentry") == []
    assert listed_ids(client, seeded, q="pay", has_backend_errors=True) == [ids["s3"], ids["s1"]]
    assert listed_ids(client, seeded, q="pay", has_backend_errors=False) == []
    window = {"from": (T0 + timedelta(minutes=1)).isoformat()}
    assert listed_ids(client, seeded, q="pay", **window) == [ids["s3"]]
    assert listed_ids(client, seeded, q="   ") == [
        ids[n] for n in ("s5", "s4", "s3", "s2", "s1")
    ]  # blank: no filter


@pytest.mark.parametrize("q", ["*", "'", '"', "-", "()", ":*", "!&|", "— «»", "%_"])
def test_q_without_letters_or_digits_is_422(client: TestClient, seeded: Seeded, q: str) -> None:
    response = client.get(sessions_url(seeded.project_id), params={"q": q}, headers=seeded.auth())
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "invalid_request"
    assert "letter or digit" in str(body)


def test_text_index_follows_inserts_updates_and_deletes(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    session = add_session(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        integration = integrations_store.create(
            db,
            project_id=seeded.project_id,
            provider="datadog",
            name="main",
            settings={"site": "datadoghq.com"},
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
        integration_id = integration.id

    def row(record_id: str, title: str) -> events.EventRow:
        # The fields left out (exception type, service, stack...) are stored as NULL.
        return cast(
            events.EventRow,
            {
                "project_id": seeded.project_id,
                "session_id": session.id,
                "integration_id": integration_id,
                "provider": "datadog",
                "provider_record_id": record_id,
                "timestamp": session.started_at,
                "level": "error",
                "title": title,
                "message": f"{title} happened",
                "fingerprint": record_id,
                "imported_at": session.started_at,
            },
        )

    # The importer's INSERT ... ON CONFLICT DO NOTHING RETURNING: skipped rows leave no trace.
    with transaction(rt.sessions) as db:
        assert events.insert_events(db, [row("r1", "Alpha failure"), row("r2", "Bravo failure")]) == 2
    with transaction(rt.sessions) as db:
        assert events.insert_events(db, [row("r1", "Changed title"), row("r3", "Charlie failure")]) == 1
    assert listed_ids(client, seeded, q="alpha") == [str(session.id)]
    assert listed_ids(client, seeded, q="changed") == []
    assert listed_ids(client, seeded, q="charlie happened") == [str(session.id)]

    with transaction(rt.sessions) as db:
        first = db.scalars(select(BackendEvent).where(BackendEvent.provider_record_id == "r1")).one()
        first.title = "Delta failure"
        first.message = "no longer the first letter"
        db.execute(
            update(BackendEvent).where(BackendEvent.provider_record_id == "r2").values(level="warning")
        )
        db.execute(delete(BackendEvent).where(BackendEvent.provider_record_id == "r3"))
    assert listed_ids(client, seeded, q="alpha") == []
    assert listed_ids(client, seeded, q="delta letter") == [str(session.id)]
    assert listed_ids(client, seeded, q="bravo") == [str(session.id)]
    assert listed_ids(client, seeded, q="charlie") == []

    with transaction(rt.sessions) as db:  # its events stay, detached (integration_id set to NULL)
        integrations_store.remove(db, db.get_one(Integration, integration_id), purge_events=False)
    assert listed_ids(client, seeded, q="bravo failure") == [str(session.id)]

    if rt.engine.dialect.name == "sqlite":
        with rt.engine.begin() as conn:  # raises if the FTS5 index and its content disagree
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")
        with transaction(rt.sessions) as db:  # foreign-key cascades fire the triggers too
            db.execute(delete(Project).where(Project.id == seeded.project_id))
        with rt.engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {FTS_TABLE}('failure')").scalar() == 0


def test_keyset_pagination_edges(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    # Two sessions share a start time: the id breaks the tie, so none is skipped or repeated.
    rows = [add_session(rt, seeded.project_id, T0 + timedelta(minutes=i // 2)) for i in range(6)]
    expected = [str(r.id) for r in sorted(rows, key=lambda r: (r.started_at, r.id), reverse=True)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = get(client, seeded, sessions_url(seeded.project_id), **params)
        seen += [row["id"] for row in body["sessions"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3  # an exact multiple of the limit ends without an empty extra page

    assert listed_ids(client, seeded, limit=200) == expected
    for bad in (0, 201):
        response = client.get(sessions_url(seeded.project_id), params={"limit": bad}, headers=seeded.auth())
        assert response.status_code == 422


@pytest.mark.parametrize(
    "raw",
    [
        "???",  # not base64 (once decoded below it stays garbage)
        "not-a-cursor",
        "s:t1:sx",  # a string where the id goes
        "g:i1:sx",  # another listing's cursor
        "s:t99999999999999999999999:i1",  # beyond the calendar
        "s:t1:i99999999999999999999999",  # beyond 64 bits
    ],
)
def test_bad_cursor_is_422(client: TestClient, seeded: Seeded, raw: str) -> None:
    cursor = base64.urlsafe_b64encode(raw.encode()).decode() if raw != "???" else raw
    response = client.get(sessions_url(seeded.project_id), params={"cursor": cursor}, headers=seeded.auth())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"provider": "splunk"},
        {"q": "x" * 201},
        {"user_id": "u" * 257},
        {"from": "not a date"},
        {"has_backend_errors": "maybe"},
    ],
)
def test_request_fields_are_bounded(client: TestClient, seeded: Seeded, params: dict[str, str]) -> None:
    response = client.get(sessions_url(seeded.project_id), params=params, headers=seeded.auth())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_nul_characters_are_refused_before_any_query(client: TestClient, seeded: Seeded) -> None:
    response = client.get(sessions_url(seeded.project_id), params={"q": "a\x00b"}, headers=seeded.auth())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "nul_character"


def test_detail_places_events_on_the_timeline(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id, seen_for=timedelta(minutes=5), lifetime=timedelta(hours=2))
    add_event(rt, session, timedelta(seconds=-3), title="before start")
    add_event(
        rt, session, timedelta(milliseconds=1500), title="inside", provider="sentry", link="https://s/1"
    )
    add_event(rt, session, timedelta(hours=1), title="after last seen, token still valid")
    add_event(rt, session, timedelta(hours=2, seconds=1), title="after token expiry")

    body = get(client, seeded, sessions_url(seeded.project_id, f"/{session.id}"))

    assert body["id"] == str(session.id)
    assert body["backend_events"] == 4
    assert body["backend_events_by_provider"] == {"datadog": 3, "sentry": 1}
    placed = [(e["title"], e["offset_ms"], e["outside_session"]) for e in body["events"]]
    assert placed == [
        ("before start", -3000, True),
        ("inside", 1500, False),
        ("after last seen, token still valid", 3_600_000, False),
        ("after token expiry", 7_201_000, True),
    ]
    inside = body["events"][1]
    assert inside["provider"] == "sentry" and inside["link"] == "https://s/1"
    assert inside["level"] == "error" and inside["fingerprint"] and inside["source"] == "imported"
    assert inside["session_id"] == str(session.id)


def test_detail_pages_through_events(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id)
    for i in range(5):
        add_event(rt, session, timedelta(seconds=i // 2), title=f"e{i}")  # ties on timestamp
    url = sessions_url(seeded.project_id, f"/{session.id}")
    titles: list[str] = []
    cursor = None
    while True:
        body = get(client, seeded, url, events_limit=2, **({"events_cursor": cursor} if cursor else {}))
        titles += [e["title"] for e in body["events"]]
        cursor = body["next_events_cursor"]
        if cursor is None:
            break
    assert titles == ["e0", "e1", "e2", "e3", "e4"]


def test_event_text_is_returned_as_data(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id)
    html = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    add_event(rt, session, title=html, message=html + "\n\u202e\u0007-ish")
    response = client.get(sessions_url(seeded.project_id, f"/{session.id}"), headers=seeded.auth())
    assert response.headers["content-type"].startswith("application/json")
    event = response.json()["events"][0]
    assert event["title"] == html
    assert event["message"].startswith(html)


def test_sessions_are_isolated_between_projects(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    mine = add_session(rt, seeded.project_id)
    theirs = add_session(rt, seeded.other_project_id)
    add_event(rt, theirs)
    scoped = seeded.auth(seeded.project_api_key)

    listed = client.get(sessions_url(seeded.project_id), headers=scoped).json()
    assert [row["id"] for row in listed["sessions"]] == [str(mine.id)]
    assert client.get(sessions_url(seeded.other_project_id), headers=scoped).status_code == 404
    for suffix in (f"/{theirs.id}", f"/{theirs.id}/backend-logs"):
        # Another project's session through my project, with an admin key: not found either.
        assert client.get(sessions_url(seeded.project_id, suffix), headers=seeded.auth()).status_code == 404
        assert client.get(sessions_url(seeded.other_project_id, suffix), headers=scoped).status_code == 404
    assert client.get(sessions_url(seeded.project_id)).status_code == 401


def test_session_ids_are_bounded_path_integers(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    biggest = add_session(rt, seeded.project_id, session_id=2**63 - 1)
    ok = client.get(sessions_url(seeded.project_id, f"/{biggest.id}"), headers=seeded.auth())
    assert ok.status_code == 200 and ok.json()["id"] == str(2**63 - 1)
    for bad in (str(2**63), "-1", "abc"):
        response = client.get(sessions_url(seeded.project_id, f"/{bad}"), headers=seeded.auth())
        assert response.status_code == 422
    assert client.get(sessions_url(seeded.project_id, "/12345"), headers=seeded.auth()).status_code == 404


def test_openapi_describes_the_sessions_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/projects/{project_id}/sessions",
        "/api/v1/projects/{project_id}/sessions/{session_id}",
        "/api/v1/projects/{project_id}/sessions/{session_id}/backend-logs",
        "/api/v1/projects/{project_id}/backend-errors",
        "/api/v1/projects/{project_id}/backend-errors/{fingerprint}/sessions",
        "/api/v1/projects/{project_id}/integrations/{provider}/{name}/diagnostics",
    ):
        assert "get" in paths[path], path
    params = {p["name"]: p for p in paths["/api/v1/projects/{project_id}/sessions"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 200
    assert params["q"]["schema"]["anyOf"][0]["maxLength"] == 200
    assert "start of one" in params["q"]["description"]  # word-prefix search, documented
    groups = paths["/api/v1/projects/{project_id}/backend-errors"]["get"]["parameters"]
    assert [p["description"] for p in groups if p["name"] == "q"] == [params["q"]["description"]]
    assert client.get("/docs").status_code == 200


def test_duration_is_what_is_known_and_token_expiry_is_named_as_such(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    """No recording and no later contact: the duration is unknown (null), never the token's lifetime."""
    only_started = add_session(rt, seeded.project_id, T0, seen_for=timedelta(0))
    continued = add_session(rt, seeded.project_id, T0 + timedelta(hours=1), seen_for=timedelta(minutes=4))
    recorded = add_session(rt, seeded.project_id, T0 + timedelta(hours=2), seen_for=timedelta(minutes=9))
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, recorded.id)
        assert row is not None
        row.recording_started_at = row.started_at + timedelta(seconds=2)
        row.recording_ended_at = row.started_at + timedelta(seconds=62)
        row.last_activity_at = row.recording_ended_at
        row.replay_segments = 3

    detail = get(client, seeded, f"{sessions_url(seeded.project_id)}/{only_started.id}")
    assert detail["duration_ms"] is None
    assert "ends_at" not in detail
    assert detail["token_expires_at"] == "2026-03-02T12:00:00Z"
    assert detail["started_at"] == detail["last_seen_at"] == "2026-03-02T10:00:00Z"
    listed = {r["id"]: r for r in get(client, seeded, sessions_url(seeded.project_id))["sessions"]}
    assert listed[str(only_started.id)]["duration_ms"] is None
    assert listed[str(continued.id)]["duration_ms"] == 240_000  # start to last seen
    # With a recording: first to last recorded event, as recording.duration_ms says.
    assert (
        listed[str(recorded.id)]["duration_ms"]
        == 60_000
        == listed[str(recorded.id)]["recording"]["duration_ms"]
    )
    detail = get(client, seeded, f"{sessions_url(seeded.project_id)}/{recorded.id}")
    assert detail["duration_ms"] == 60_000
    assert detail["recording"]["last_activity_at"] == "2026-03-02T12:01:02Z"
