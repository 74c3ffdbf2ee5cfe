"""The dashboard end to end in Chromium: sign-in, integrations through the generated form, the
session page's markers and seeking, hostile log text, sign-out, CSRF and cookie flags, keyboard."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from replaylink.api.session_cookie import CSRF_COOKIE, SESSION_COOKIE
from replaylink.api.webui import WEBUI_DIR
from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import integrations as integration_store
from replaylink.store.db import transaction
from tests.browser.conftest import require
from tests.browser.dashboard_support import HOSTILE, SEARCHED_WORD, Dashboard, seed, seed_search, sign_in
from tests.browser.support import ReplayLinkServer
from tests.peers import datadog_fake

WRONG_KEY = "wrong-dd-api-key-000000000000"


@pytest.fixture(scope="module")
def dashboard(replaylink: ReplayLinkServer) -> Iterator[Dashboard]:
    """The `replaylink serve` of the module, its database seeded through the store."""
    require((WEBUI_DIR / "index.html").is_file(), "the dashboard is not built (make webui)")
    rt = Runtime(Settings(data_dir=replaylink.data_dir))
    try:
        project_id, session_id, offset = seed(rt)
        search = seed_search(rt)
        yield Dashboard(
            replaylink.base_url, rt, replaylink.admin_password, project_id, session_id, offset, search
        )
    finally:
        rt.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context and page that fail the test on any uncaught error in the page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def test_sign_in_sets_strict_cookies_and_sign_out_ends_the_session(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + f"/projects/{dashboard.project_id}/errors")
    page.get_by_role("heading", name="Sign in to ReplayLink").wait_for()  # a deep link asks for a sign-in
    assert "/login?next=" in page.url
    page.get_by_label("Email").fill("admin@localhost")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="wrong").wait_for()
    page.get_by_label("Password").fill(dashboard.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Backend errors").wait_for()  # back where the link pointed

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    assert session["expires"] > 0
    assert cookies[CSRF_COOKIE]["httpOnly"] is False
    assert page.evaluate("document.cookie").find(SESSION_COOKIE) == -1  # scripts cannot read it

    # A state change with the cookie but without the CSRF header is refused, with it accepted.
    refused = page.evaluate(
        """async () => (await fetch('/api/v1/projects', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'x'})})).status"""
    )
    assert refused == 403

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to ReplayLink").wait_for()
    me = httpx.get(dashboard.url + "/api/v1/auth/me", cookies={SESSION_COOKIE: session["value"]})
    assert me.status_code == 401  # the old cookie is dead on the server too


def test_integration_is_checked_then_saved_with_the_secret_masked(page: Any, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.url, dashboard.password)
    with datadog_fake.running() as fake:
        page.goto(f"{dashboard.url}/projects/{dashboard.project_id}/sessions")
        page.get_by_role("link", name="Preferences").click()
        card = page.get_by_role("region", name="Datadog")
        card.get_by_role("button", name="Connect Datadog").click()
        form = card.get_by_role("form", name="Datadog settings")
        form.get_by_label("API Key").fill(WRONG_KEY)
        form.get_by_label("Application Key").fill(datadog_fake.APPLICATION_KEY)
        form.get_by_label("API base URL").fill(fake.url)
        form.get_by_label("Indexes").fill("main")
        save = form.get_by_role("button", name="Save")
        assert save.is_disabled()  # Check comes first
        form.get_by_role("button", name="Check").click()
        outcome = form.get_by_test_id("check-outcome")
        outcome.wait_for()
        assert "Datadog refused these settings" in outcome.inner_text()
        assert "Fix the field: API Key" in outcome.inner_text()
        assert save.is_disabled()
        with transaction(dashboard.rt.sessions) as db:
            assert integration_store.list_for_project(db, dashboard.project_id) == []

        form.get_by_label("API Key").fill(datadog_fake.API_KEY)
        form.get_by_role("button", name="Check").click()
        page.get_by_text("Datadog accepted these settings.").wait_for()
        save.click()
        saved = card.get_by_role("article", name="Datadog integration default")
        # Saving checks the settings again on the server: wait for the saved card or the form's
        # error, and fail with that error's text rather than a bare timeout.
        refused = form.get_by_role("alert")
        expect(saved.or_(refused)).to_be_visible(timeout=60_000)
        assert not refused.is_visible(), refused.inner_text()
        shown = saved.locator('[data-setting="api_key"]').inner_text()
        assert re.fullmatch(r"\*+.{0,4}", shown), shown
        assert datadog_fake.API_KEY not in page.content()
        with transaction(dashboard.rt.sessions) as db:
            assert [r.provider for r in integration_store.list_for_project(db, dashboard.project_id)] == [
                "datadog"
            ]


def test_marker_seeks_two_seconds_before_the_error(page: Any, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.url, dashboard.password)
    page.goto(f"{dashboard.url}/projects/{dashboard.project_id}/sessions/{dashboard.session_id}")
    marker = page.get_by_role("button", name="PaymentError: card declined", exact=True)
    marker.click()
    clock = page.get_by_test_id("current-time")
    expected = dashboard.event_offset_ms - 2000
    expect(clock).to_have_attribute("data-ms", str(expected))
    assert clock.inner_text().startswith("0:28")
    assert f"t={expected}" in page.url
    # the deep link opens at that time
    page.goto(f"{dashboard.url}/projects/{dashboard.project_id}/sessions/{dashboard.session_id}?t=65000")
    expect(page.get_by_test_id("current-time")).to_have_attribute("data-ms", "65000")


def test_hostile_log_text_renders_as_text_and_runs_nothing(page: Any, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.url, dashboard.password)
    page.goto(f"{dashboard.url}/projects/{dashboard.project_id}/sessions/{dashboard.session_id}")
    panel = page.get_by_role("tabpanel")
    panel.get_by_text("payment failed", exact=False).wait_for()
    assert HOSTILE in panel.inner_text()
    assert panel.locator("img, script").count() == 0
    assert page.evaluate("window.__pwned") is None
    # only the http(s) provider link is a link; the javascript: one is text-free of any anchor
    hrefs = panel.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["https://app.datadoghq.com/logs?event=abc"]
    # the error groups page too
    page.goto(f"{dashboard.url}/projects/{dashboard.project_id}/errors")
    page.get_by_role("link", name="PaymentError: card declined").click()
    page.get_by_text("payment failed", exact=False).first.wait_for()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0


def test_keyboard_reaches_every_control(page: Any, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.url, dashboard.password)
    for path in (
        f"/projects/{dashboard.project_id}/sessions",
        f"/projects/{dashboard.project_id}/sessions/{dashboard.session_id}",
    ):
        page.goto(dashboard.url + path)
        page.locator("table, [data-testid=current-time]").first.wait_for()
        # The controls are compared by their HTML: let the page's requests (filter choices,
        # backend errors) finish first, or a control may change between the list and the tabbing.
        page.wait_for_load_state("networkidle")
        controls = page.evaluate(
            """() => [...document.querySelectorAll(
                    'a[href], button, input, select, textarea, [tabindex="0"]')]
                .filter(e => !e.disabled && e.offsetParent !== null && e.tabIndex >= 0
                        && !e.closest('[role=tablist]') || e.getAttribute('aria-selected') === 'true')
                .map(e => e.outerHTML.slice(0, 120))"""
        )
        reached: set[str] = set()
        page.locator("body").focus()
        for _ in range(len(controls) * 2 + 10):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement.outerHTML.slice(0, 120)"))
        missing = [c for c in controls if c not in reached]
        assert missing == [], f"{path}: not reachable by Tab: {missing}"


ONWARD_REQUESTS = 8
"""Requests the dashboard makes by itself for a search that stopped short (``ONWARD_REQUESTS`` of
web/src/components/SearchProgress.tsx)."""


def test_a_search_that_stopped_early_says_how_far_it_went_and_goes_on(
    page: Any, dashboard: Dashboard
) -> None:
    """The server walks one stretch of sessions a request (the fixture's budget of 0): the first
    answer holds the newest match and says how far it searched; the dashboard goes on by itself
    for a few requests, then "Search further" goes on until the oldest matches, and the first one
    stays listed."""
    project_id, newest, oldest = dashboard.search
    sign_in(page, dashboard.url, dashboard.password)
    answers: list[str] = []
    # This search's lists only: the list that signing in opened may answer after this point.
    listed = re.compile(rf"/api/v1/projects/{project_id}/sessions\?.*\bq={SEARCHED_WORD}\b")
    page.on("response", lambda r: answers.append(r.url) if listed.search(r.url) else None)
    page.goto(f"{dashboard.url}/projects/{project_id}/sessions?q={SEARCHED_WORD}")
    status = page.get_by_role("status")
    expect(status).to_contain_text("Searched back to")
    expect(page.get_by_text(newest)).to_be_visible()
    further = page.get_by_role("button", name="Search further")
    for _ in range(100):  # the requests it makes by itself
        if len(answers) >= 1 + ONWARD_REQUESTS:
            break
        page.wait_for_timeout(100)
    expect(further).to_be_enabled()
    page.wait_for_timeout(300)  # and no more of them
    assert len(answers) == 1 + ONWARD_REQUESTS
    # 2,500 sessions without a match, one stretch (at least 128) a request. The button is named
    # "Searching…" while a request runs and goes away once the search is done, so a click waits
    # only briefly: the search may end (or go on by itself) between a look and the click.
    for _ in range(300):
        if page.get_by_text(oldest).count():
            break
        with contextlib.suppress(PlaywrightTimeoutError):
            further.click(timeout=1_000)
        page.wait_for_timeout(100)
    expect(page.get_by_text(oldest)).to_be_visible()
    expect(page.get_by_text(newest)).to_be_visible()  # the first answer's match stays


def test_estimated_group_counts_are_marked(page: Any, dashboard: Dashboard) -> None:
    """A word in more events than a lookup lists: the groups are counted from a sample, with ≈."""
    project_id, _, _ = dashboard.search
    sign_in(page, dashboard.url, dashboard.password)
    page.goto(f"{dashboard.url}/projects/{project_id}/errors?q={SEARCHED_WORD}")
    row = page.get_by_role("row", name=re.compile("Upstream0Error"))
    expect(row).to_contain_text("≈")
    expect(page.get_by_text("estimated from a sample of the events", exact=False)).to_be_visible()
