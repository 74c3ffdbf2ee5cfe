"""The sessions one error group hurt (``GET .../backend-errors/{fingerprint}/sessions``): the same
pages whether the listing walks sessions and probes the group's rows (a group in many sessions) or
starts from the group's own session ids (a group in few), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from replaylink.runtime import Runtime
from replaylink.store.models import RecordedSession
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded
from tests.test_backend_errors_api import get, groups_url

COMMON, RARE = "Timeout calling payments", "KeyError: 'cart'"


def _seed(rt: Runtime, project_id: int) -> tuple[dict[str, list[RecordedSession]], dict[str, str]]:
    """14 sessions an hour apart: the common group in 10 of them (two events each), the rare one
    in 2. Returns each group's sessions and fingerprint."""
    sessions = [add_session(rt, project_id, T0 + timedelta(hours=n)) for n in range(14)]
    hurt: dict[str, list[RecordedSession]] = {COMMON: [], RARE: []}
    fingerprints: dict[str, str] = {}
    for n, session in enumerate(sessions):
        if n % 7 not in (2, 5):
            add_event(rt, session, title=COMMON)
            fingerprints[COMMON] = add_event(rt, session, timedelta(minutes=3), title=COMMON).fingerprint
            hurt[COMMON].append(session)
        if n in (4, 11):
            fingerprints[RARE] = add_event(rt, session, title=RARE).fingerprint
            hurt[RARE].append(session)
    return hurt, fingerprints


def _pages(client: TestClient, seeded: Seeded, fingerprint: str, **params: Any) -> list[str]:
    url = groups_url(seeded.project_id, f"/{fingerprint}/sessions")
    got: list[str] = []
    cursor = None
    while True:
        body = get(client, seeded, url, **params, **({"cursor": cursor} if cursor else {}))
        got += [row["id"] for row in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return got


def _expected(hurt: list[RecordedSession], start: datetime | None, end: datetime | None) -> list[str]:
    chosen = [
        s for s in hurt if (start is None or s.started_at >= start) and (end is None or s.started_at < end)
    ]
    return [str(s.id) for s in sorted(chosen, key=lambda s: (s.started_at, s.id), reverse=True)]


def test_every_page_of_a_common_and_a_rare_group(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    hurt, fingerprints = _seed(rt, seeded.project_id)
    other = add_session(rt, seeded.other_project_id, T0 + timedelta(minutes=30))  # not listed
    add_event(rt, other, title=COMMON)
    add_event(rt, other, title=RARE)
    windows: list[tuple[datetime | None, datetime | None]] = [
        (None, None),
        (T0 + timedelta(hours=3), None),
        (None, T0 + timedelta(hours=9, minutes=30)),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=12)),
    ]
    for title, sessions in hurt.items():
        for limit in (1, 2, 3, 50):
            for start, end in windows:
                params = {"limit": limit, "from": start and start.isoformat(), "to": end and end.isoformat()}
                params = {k: v for k, v in params.items() if v is not None}
                got = _pages(client, seeded, fingerprints[title], **params)
                assert got == _expected(sessions, start, end), (title, limit, start, end)


def test_a_group_in_most_sessions_is_found_by_walking_them(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    """With a page of 1, the common group (10 of 14 sessions) is probed per session walked; the
    rare one (2) is read from its own ids."""
    _, fingerprints = _seed(rt, seeded.project_id)
    statements: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine, "before_cursor_execute", remember)
    try:
        assert _pages(client, seeded, fingerprints[COMMON], limit=1)
        walked = [s for s in statements if "error_group_sessions" in s and "sessions.started_at" in s]
        statements.clear()
        assert _pages(client, seeded, fingerprints[RARE], limit=1)
        listed = [s for s in statements if "error_group_sessions" in s and "sessions.started_at" in s]
    finally:
        event.remove(rt.engine, "before_cursor_execute", remember)
    assert walked and all("EXISTS" in s for s in walked)
    assert listed and not any("EXISTS" in s for s in listed)
