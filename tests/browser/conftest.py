"""Fixtures for end-to-end browser tests: Debian's Chromium through Playwright, a real `replaylink serve`
subprocess on a free port, and plain HTTP servers that stand for the app's own origins.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (installed by ``.ci/run``).
Without it the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STATIC_TRACKER,
    OriginServer,
    ReplayLinkServer,
    SeenRequest,
    serve_origin,
    start_replaylink,
)

__all__ = ["STATIC_TRACKER", "OriginServer", "ReplayLinkServer", "SeenRequest", "require"]

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, why: str) -> None:
    """Skip locally, fail in CI, when something a browser test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test session (per xdist worker)."""
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies, storage) for each test."""
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="module")
def replaylink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayLinkServer]:
    """One `replaylink serve` (SQLite, fresh data dir) shared by the tests of a module. A text search
    walks one stretch of sessions per request (``REPLAYLINK_SEARCH_BUDGET_MS=0``), so that a search
    that stops early does so whatever the machine's speed."""
    try:
        proc, server = start_replaylink(
            tmp_path_factory.mktemp("replaylink"), extra_env={"REPLAYLINK_SEARCH_BUDGET_MS": "0"}
        )
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def origin_server() -> Iterator[Callable[[], OriginServer]]:
    """A factory of :class:`OriginServer` on 127.0.0.1, each on its own port (so its own origin)."""
    servers: list[ThreadingHTTPServer] = []

    def make() -> OriginServer:
        state, httpd = serve_origin()
        servers.append(httpd)
        return state

    try:
        yield make
    finally:
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()
