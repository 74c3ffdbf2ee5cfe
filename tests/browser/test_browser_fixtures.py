"""The shared browser fixtures work: Chromium loads a page of one origin that calls a `replaylink serve`."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import OriginServer, ReplayLinkServer


def test_page_reaches_replaylink_and_app_origin(
    page: Any, replaylink: ReplayLinkServer, origin_server: Any
) -> None:
    app: OriginServer = origin_server()
    url = app.route("/", "<!doctype html><title>fixture</title><p id=x>hello</p>")
    page.goto(url)
    assert page.text_content("#x") == "hello"
    status = page.evaluate("async (base) => (await fetch(base + '/healthz')).status", replaylink.base_url)
    assert status == 200
    assert app.requests_to("/")[0].method == "GET"
