"""Sentry: real sentry-sdk with a capturing transport."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sentry_sdk
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sdk_support import TOKEN
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.transport import Transport

from replaylink_sdk import HEADER, use_token
from replaylink_sdk.asgi import SessionTokenMiddleware
from replaylink_sdk.sentry import ReplayLinkIntegration, tag_event


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(dict(event))


@contextmanager
def sentry_client(**options: Any) -> Iterator[CapturingTransport]:
    transport = CapturingTransport()
    sentry_sdk.init(
        dsn="http://key@sentry.invalid/1", transport=transport, default_integrations=False, **options
    )
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def sentry() -> Iterator[CapturingTransport]:
    with sentry_client(integrations=[ReplayLinkIntegration()]) as transport:
        yield transport


def tags(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("tags") or {}


def test_tag_set_inside_a_request_and_absent_outside(sentry: CapturingTransport) -> None:
    app = FastAPI()

    @app.get("/")
    async def handler() -> None:
        sentry_sdk.capture_message("inside")

    TestClient(SessionTokenMiddleware(app)).get("/", headers={HEADER: TOKEN})
    sentry_sdk.capture_message("outside")
    inside, outside = sentry.events
    assert inside["message"] == "inside" and tags(inside)["openReplaySessionToken"] == TOKEN
    assert outside["message"] == "outside" and "openReplaySessionToken" not in tags(outside)


def test_exception_captured_after_the_request_scope_is_tagged_from_its_note(
    sentry: CapturingTransport,
) -> None:
    app = FastAPI()

    @app.get("/")
    async def handler() -> None:
        raise RuntimeError("boom")

    client = TestClient(SentryAsgiMiddleware(SessionTokenMiddleware(app)), raise_server_exceptions=False)
    client.get("/", headers={HEADER: TOKEN})
    (event,) = sentry.events
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert tags(event)["openReplaySessionToken"] == TOKEN


def test_before_send_hook_without_the_integration() -> None:
    with sentry_client(before_send=tag_event) as transport:
        with use_token(TOKEN):
            sentry_sdk.capture_message("hooked")
        (event,) = transport.events
        assert tags(event)["openReplaySessionToken"] == TOKEN


def test_processor_is_inert_when_the_integration_is_not_enabled() -> None:
    with sentry_client() as transport:
        with use_token(TOKEN):
            sentry_sdk.capture_message("plain")
        assert "openReplaySessionToken" not in tags(transport.events[0])
