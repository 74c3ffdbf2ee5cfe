"""Django middleware through Django's test clients, on the sync and the async handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import django
import pytest
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client
from django.urls import path
from sdk_support import TOKEN, LogCapture

from replaylink_sdk import get_token
from replaylink_sdk.django import SessionTokenMiddleware

log = logging.getLogger("app")


def sync_view(request: HttpRequest) -> JsonResponse:
    log.info("sync view")
    return JsonResponse({"token": get_token()})


async def async_view(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    log.info("async view")
    return JsonResponse({"token": get_token()})


def failing_view(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("boom")


urlpatterns = [path("sync", sync_view), path("async", async_view), path("boom", failing_view)]


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> None:
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["replaylink_sdk.django.SessionTokenMiddleware"],
            LOGGING_CONFIG=None,  # leave the process's logging configuration alone
        )
    django.setup()


@pytest.fixture
def request_errors(logs: LogCapture) -> Iterator[LogCapture]:
    """Also capture the ``django.request`` logger (where Django reports view exceptions)."""
    logger = logging.getLogger("django.request")
    logger.addHandler(logs.handler)
    try:
        yield logs
    finally:
        logger.removeHandler(logs.handler)


def meta(token: str) -> dict[str, Any]:
    return {"HTTP_X_OPENREPLAY_SESSIONTOKEN": token}


def test_sync_request(logs: LogCapture) -> None:
    assert Client().get("/sync", **meta(TOKEN)).json() == {"token": TOKEN}
    assert Client().get("/sync", **meta("\r\n" + TOKEN)).json() == {"token": None}
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] sync view", "sync view"]


async def test_async_request(logs: LogCapture) -> None:
    response = await AsyncClient().get("/async", headers={"X-OpenReplay-SessionToken": TOKEN})
    assert response.json() == {"token": TOKEN}
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] async view"]


def test_middleware_adapts_to_the_chain() -> None:
    async def async_get_response(request: Any) -> None:
        return None

    assert SessionTokenMiddleware.sync_capable and SessionTokenMiddleware.async_capable
    assert iscoroutinefunction(SessionTokenMiddleware(async_get_response))
    assert not iscoroutinefunction(SessionTokenMiddleware(lambda request: None))


def test_view_exceptions_are_logged_with_the_token(request_errors: LogCapture) -> None:
    response = Client(raise_request_exception=False).get("/boom", **meta(TOKEN))
    assert response.status_code == 500
    assert request_errors.lines[0] == f"[openReplaySessionToken={TOKEN}] Internal Server Error: /boom"
    assert "RuntimeError: boom" in request_errors.lines
