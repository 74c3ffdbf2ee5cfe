"""WSGI middleware with a real Flask app: per-request tokens, streaming, errors, 50 threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest
from flask import Flask, Response
from sdk_support import TOKEN, LogCapture, token_for

from replaylink_sdk import HEADER, get_token
from replaylink_sdk.context import noted_token
from replaylink_sdk.wsgi import SessionTokenMiddleware

THREADS = 50
log = logging.getLogger("app")


def make_app() -> Flask:
    app = Flask(__name__)
    app.testing = True
    all_in_flight = threading.Barrier(THREADS)

    @app.get("/token")
    def token() -> dict[str, Any]:
        log.info("handled")
        return {"token": get_token()}

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[str]:
            try:
                for index in range(2):
                    log.info("chunk %d", index)
                    yield f"{get_token()}\n"
            finally:
                log.info("closed")

        return Response(chunks())

    @app.get("/boom")
    def boom() -> str:
        raise KeyError("boom")

    @app.get("/threads/<int:index>")
    def threads(index: int) -> dict[str, Any]:
        log.info("start %d", index)
        all_in_flight.wait(timeout=60)  # every request is now in flight at once
        log.info("end %d", index)
        return {"token": get_token()}

    app.wsgi_app = SessionTokenMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def test_flask_request_token(logs: LogCapture) -> None:
    client = make_app().test_client()
    assert client.get("/token", headers={HEADER: TOKEN}).json == {"token": TOKEN}
    assert client.get("/token", headers={HEADER: "bad\tvalue" * 3}).json == {"token": None}
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] handled", "handled"]


def test_streamed_response_is_produced_and_closed_with_the_token(logs: LogCapture) -> None:
    response = make_app().test_client().get("/stream", headers={HEADER: TOKEN})
    assert response.text == f"{TOKEN}\n{TOKEN}\n"
    prefix = f"[openReplaySessionToken={TOKEN}] "
    assert logs.lines == [prefix + "chunk 0", prefix + "chunk 1", prefix + "closed"]
    assert get_token() is None


def start_response(*args: Any) -> Any:
    return None


def test_raw_iterable_token_is_set_per_step_and_reset_after_close() -> None:
    seen: list[str | None] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            seen.append(get_token())
            yield b"body"
        finally:
            seen.append(get_token())

    result = SessionTokenMiddleware(app)({"HTTP_X_OPENREPLAY_SESSIONTOKEN": TOKEN}, start_response)
    assert get_token() is None
    assert next(iter(result)) == b"body"
    assert get_token() is None
    result.close()  # type: ignore[attr-defined]
    assert seen == [TOKEN, TOKEN]
    assert get_token() is None


def test_list_responses_are_returned_as_is() -> None:
    body = [b"ok"]
    result = SessionTokenMiddleware(lambda environ, start_response: body)({}, start_response)
    assert result is body


def test_uncaught_exception_keeps_its_type_and_gets_the_token_note() -> None:
    client = make_app().test_client()
    with pytest.raises(KeyError) as caught:
        client.get("/boom", headers={HEADER: TOKEN})
    assert caught.value.args == ("boom",)
    assert noted_token(caught.value) == TOKEN


def test_fifty_threads_never_see_another_token(logs: LogCapture) -> None:
    app = make_app()

    def call(index: int) -> Any:
        response = app.test_client().get(f"/threads/{index}", headers={HEADER: token_for(index)})
        return response.json["token"]  # type: ignore[index]

    with ThreadPoolExecutor(THREADS) as pool:  # the second round reuses the same threads
        tokens = list(pool.map(call, range(THREADS))) + list(pool.map(call, range(THREADS, 2 * THREADS)))
    assert tokens == [token_for(index) for index in range(2 * THREADS)]
    assert len(logs.lines) == 4 * THREADS
    for line in logs.lines:
        index = int(line.rsplit(" ", 1)[1])
        assert line.startswith(f"[openReplaySessionToken={token_for(index)}] ")
        assert line.count("openReplaySessionToken=") == 1
