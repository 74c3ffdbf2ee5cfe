"""Datadog fakes for importer process tests and the importer benchmark.

- :class:`Stall`: wraps the Datadog contract fake; holds the first search request that matches a
  predicate until released, so a worker can be caught between fetch and commit.
- :func:`multi_key_app`: one server for many integrations, told apart by their API key; each key
  has its own records, and every search request's arrival and answer time is recorded per key.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.peers import datadog_fake

ASGIApp = Callable[..., Any]


class Stall:
    """ASGI middleware: the first search whose JSON body satisfies ``when`` waits for ``release``.

    ``stalled`` is set once that request has arrived (the worker is then inside its fetch).
    """

    def __init__(self, app: ASGIApp, when: Callable[[dict[str, Any]], bool], limit: float = 60.0) -> None:
        self.app = app
        self.when = when
        self.limit = limit
        self.stalled = threading.Event()
        self.release = threading.Event()
        self._used = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != datadog_fake.SEARCH_PATH:
            await self.app(scope, receive, send)
            return
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not self._used and isinstance(parsed, dict) and self.when(parsed):
            self._used = True
            self.stalled.set()
            deadline = time.monotonic() + self.limit
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


def has_cursor(body: dict[str, Any]) -> bool:
    """A request for a second (or later) page."""
    return bool((body.get("page") or {}).get("cursor"))


@dataclass
class KeyedState:
    """Per-API-key records and request intervals (monotonic seconds)."""

    delay: float = 0.0
    states: dict[str, datadog_fake.DatadogState] = field(default_factory=dict)
    intervals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(self, key: str) -> datadog_fake.DatadogState:
        state = datadog_fake.DatadogState(api_key=key)
        with self.lock:
            self.states[key] = state
            self.intervals[key] = []
        return state

    def requests(self, key: str) -> list[tuple[float, float]]:
        with self.lock:
            return list(self.intervals[key])


def multi_key_app(keyed: KeyedState) -> FastAPI:
    """Datadog's search endpoint for many API keys (the application key is the fake's)."""
    app = FastAPI(title="Datadog fake, many keys")

    @app.post(datadog_fake.SEARCH_PATH)
    async def search(request: Request) -> Response:
        began = time.monotonic()
        key = request.headers.get("dd-api-key") or ""
        state = keyed.states.get(key)
        if state is None or request.headers.get("dd-application-key") != datadog_fake.APPLICATION_KEY:
            return JSONResponse({"errors": ["Forbidden"]}, status_code=403)
        body = json.loads(await request.body())
        if keyed.delay:
            await asyncio.sleep(keyed.delay)
        payload = datadog_fake.search(state, body, str(request.base_url).rstrip("/"))
        text = json.dumps(payload)
        with keyed.lock:
            keyed.intervals[key].append((began, time.monotonic()))
        return Response(text, media_type="application/json")

    return app
