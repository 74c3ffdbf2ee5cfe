"""Data and helpers of the dashboard's end-to-end tests: seeded sessions with hostile backend errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from replaylink.runtime import Runtime
from replaylink.store import accounts
from replaylink.store.db import transaction
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
