"""ASGI middleware with a real FastAPI app: per-request tokens, websockets, errors, concurrency."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, WebSocket
from fastapi.testclient import TestClient
from sdk_support import OTHER, TOKEN, LogCapture, token_for

from replaylink_sdk import HEADER, get_token
from replaylink_sdk.asgi import SessionTokenMiddleware
from replaylink_sdk.context import noted_token

CONCURRENT = 200
log = logging.getLogger("app")


def make_app(middleware: bool = True, all_in_flight: asyncio.Event | None = None) -> FastAPI:
    app = FastAPI()
    in_flight = [0]

    @app.get("/token")
    async def token(background: BackgroundTasks) -> dict[str, Any]:
        log.info("handled")
        background.add_task(lambda: log.info("background"))
        return {"token": get_token()}

    @app.get("/concurrent/{index}")
    async def concurrent(index: int) -> dict[str, Any]:
        log.info("start %d", index)
        assert all_in_flight is not None
        in_flight[0] += 1
        if in_flight[0] == CONCURRENT:
            all_in_flight.set()
        await all_in_flight.wait()  # every request is now in flight at once
        await asyncio.sleep(0)
        log.info("end %d", index)
        return {"token": get_token()}

    @app.get("/boom")
    async def boom() -> None:
        raise LookupError("boom")

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        log.info("socket")
        await ws.send_text(str(get_token()))
        await ws.close()

    if middleware:
        app.add_middleware(SessionTokenMiddleware)
    return app


def test_request_token_is_current_in_handlers_and_background_tasks(logs: LogCapture) -> None:
    client = TestClient(make_app())
    assert client.get("/token", headers={HEADER: TOKEN}).json() == {"token": TOKEN}
    assert logs.lines == [
        f"[openReplaySessionToken={TOKEN}] handled",
        f"[openReplaySessionToken={TOKEN}] background",
    ]


def test_requests_without_a_plausible_token_are_untouched(logs: LogCapture) -> None:
    client = TestClient(make_app())
    assert client.get("/token").json() == {"token": None}
    assert client.get("/token", headers={HEADER: "x" * 10_240}).json() == {"token": None}
    assert client.get("/token", headers={HEADER: f"openReplaySessionToken={TOKEN}"}).json() == {"token": None}
    assert logs.lines == ["handled", "background"] * 3


def test_baggage_and_custom_header_names() -> None:
    custom = TestClient(SessionTokenMiddleware(make_app(middleware=False), header_names=["X-Session"]))
    assert custom.get("/token", headers={"X-Session": OTHER, HEADER: TOKEN}).json() == {"token": OTHER}
    baggage = {"baggage": f"openReplaySessionToken={TOKEN}"}
    assert TestClient(make_app()).get("/token", headers=baggage).json() == {"token": TOKEN}


def test_websocket_scope(logs: LogCapture) -> None:
    with TestClient(make_app()).websocket_connect("/ws", headers={HEADER: TOKEN}) as ws:
        assert ws.receive_text() == TOKEN
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] socket"]


def test_uncaught_exception_keeps_its_type_and_gets_the_token_note(logs: LogCapture) -> None:
    client = TestClient(make_app())
    with pytest.raises(LookupError) as caught:
        client.get("/boom", headers={HEADER: TOKEN})
    assert caught.value.args == ("boom",)
    assert noted_token(caught.value) == TOKEN
    # The server logs the error after the request's context ended: the note still tags the line.
    log.error("Exception in ASGI application", exc_info=caught.value)
    assert logs.lines[0] == f"[openReplaySessionToken={TOKEN}] Exception in ASGI application"
    if sys.version_info >= (3, 11):
        assert f"openReplaySessionToken={TOKEN}" in logs.lines[-1]  # the note, under the traceback


async def test_lifespan_passes_through_without_a_token() -> None:
    seen: list[tuple[str, str | None]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((scope["type"], get_token()))

    await SessionTokenMiddleware(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == [("lifespan", None)]


async def test_concurrent_requests_never_see_another_token(logs: LogCapture) -> None:
    transport = httpx.ASGITransport(app=make_app(all_in_flight=asyncio.Event()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(
            *(
                client.get(f"/concurrent/{index}", headers={HEADER: token_for(index)})
                for index in range(CONCURRENT)
            )
        )
    assert [response.json()["token"] for response in responses] == [
        token_for(index) for index in range(CONCURRENT)
    ]
    assert len(logs.lines) == 2 * CONCURRENT
    for line in logs.lines:
        index = int(line.rsplit(" ", 1)[1])
        assert line.startswith(f"[openReplaySessionToken={token_for(index)}] ")
        assert line.count("openReplaySessionToken=") == 1
