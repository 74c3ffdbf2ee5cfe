"""Data and helpers of the dashboard's end-to-end tests: seeded sessions with hostile backend errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from replaylink.runtime import Runtime
from replaylink.store import accounts
from replaylink.store.db import transaction
from replaylink.store.events import EventRow, insert_events
from tests.backend_events import add_event, add_session

ADMIN_EMAIL = "admin@localhost"
HOSTILE = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> payment failed'


@dataclass
class Dashboard:
    url: str
    rt: Runtime
    password: str
    project_id: int
    session_id: int
    event_offset_ms: int
    search: tuple[int, str, str]
    """:func:`seed_search`: project id, newest and oldest matching sessions' user ids."""


def seed(rt: Runtime) -> tuple[int, int, int]:
    """A project with a few sessions; one with a hostile backend error 30 s in (as the importer stores it)."""
    with transaction(rt.sessions) as db:
        project_id = accounts.create_project(db, "Shop").id
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(3):
        add_session(rt, project_id, now - timedelta(hours=i + 2), user_id=f"user-{i}@shop.example")
    target = add_session(
        rt,
        project_id,
        now - timedelta(minutes=30),
        seen_for=timedelta(minutes=2),
        user_id="buyer@shop.example",
    )
    add_event(
        rt,
        target,
        timedelta(seconds=30),
        title="PaymentError: card declined",
        message=HOSTILE,
        link="https://app.datadoghq.com/logs?event=abc",
    )
    add_event(
        rt,
        target,
        timedelta(seconds=70),
        provider="sentry",
        title="TimeoutError: upstream",
        link="javascript:alert(1)",
    )
    return project_id, target.id, 30_000


def sign_in(page: Any, url: str, password: str, email: str = ADMIN_EMAIL) -> None:
    page.goto(url + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Sessions", exact=True).wait_for()


SEARCHED_WORD = "flakyupstream"
"""In every backend event of :func:`seed_search` (more than ``text_search.FEW_MATCHES``: a search
for it walks sessions, and its error groups are estimated from a sample)."""


def seed_search(rt: Runtime) -> tuple[int, str, str]:
    """A project "Search": its newest session has one event with SEARCHED_WORD, the 2,500 before
    it none, and the 30 oldest 200 each (three error groups). Returns the project id and the user
    ids of the newest and of the oldest matching sessions."""
    with transaction(rt.sessions) as db:
        project_id = accounts.create_project(db, "Search").id
    now = datetime.now(UTC).replace(microsecond=0)
    newest = add_session(rt, project_id, now - timedelta(minutes=1), user_id="newest@search.example")
    rows = [_row(newest, 0, now)]
    for n in range(2500):
        add_session(rt, project_id, now - timedelta(minutes=2, seconds=n))
    for n in range(30):
        old = add_session(
            rt, project_id, now - timedelta(hours=3, minutes=n), user_id=f"old-{n}@search.example"
        )
        rows += [_row(old, k, now) for k in range(200)]
    with transaction(rt.sessions) as db:
        insert_events(db, rows)
    return project_id, "newest@search.example", "old-29@search.example"


def _row(session: Any, n: int, now: datetime) -> EventRow:
    group = n % 3
    title = f"Upstream{group}Error: {SEARCHED_WORD} reply"
    return EventRow(
        project_id=session.project_id,
        session_id=session.id,
        integration_id=None,
        provider="datadog",
        provider_record_id=f"{session.id}-{n}",
        timestamp=session.started_at + timedelta(seconds=1 + n),
        level="error",
        title=title,
        message=title,
        exception_type=f"Upstream{group}Error",
        service="api",
        host="web-1",
        logger="app",
        stack=None,
        link=None,
        attributes=None,
        fingerprint=f"search-group-{group}",
        imported_at=now,
    )
