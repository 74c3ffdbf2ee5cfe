"""``HttpApi`` reads an answer's body streamed, up to ``ProviderOptions.max_answer_bytes``.

A peer once served one 168 MB JSON answer and the worker grew to 1.9 GB (the body, then its
decoded objects). Every answer is now refused as soon as it passes the limit, as sent (chunked or
announced by Content-Length) and once decoded (a gzip bomb), and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from replaylink.importer.worker import Importer
from replaylink.providers.base import ProviderError, ProviderOptions, Query
from replaylink.providers.datadog import DatadogProvider, DatadogSettings
from replaylink.providers.http import AnswerTooLarge, HttpApi
from replaylink.runtime import Runtime
from tests.conftest import Seeded
from tests.importer_support import (
    Clock,
    add_integration,
    context_for,
    integration,
    one_round,
    settings,  # noqa: F401 (the fixture)
)
from tests.peers.common import serve
from tests.peers.datadog_fake import API_KEY, APPLICATION_KEY, SEARCH_PATH

MIB = 1024 * 1024
LIMIT = MIB
PAYLOAD = {"data": [{"id": "AAA", "attributes": {"message": "ok"}}], "meta": {"page": {}}}


@dataclass
class Peer:
    """A provider that answers by path: a normal JSON page, an endless chunked body, a body that
    announces its size, a gzip bomb. It counts requests and bytes sent, and notices a hang-up."""

    requests: list[str] = field(default_factory=list)
    sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)
    status: int = 200
    chunk: int = 64 * 1024
    cap: int = 512 * MIB
    """An endless body stops here whatever happens (a test that fails must not spin forever)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        self.requests.append(path)
        if path.endswith("/gzip"):
            await self._whole(
                send, gzip.compress(json.dumps(PAYLOAD).encode()), [(b"content-encoding", b"gzip")]
            )
        elif path.endswith("/bomb"):
            bomb = gzip.compress(b"[" + b" " * (16 * MIB) + b"]", 9)
            await self._whole(send, bomb, [(b"content-encoding", b"gzip")])
        elif path.endswith("/announced"):
            await self._endless(send, receive, [(b"content-length", str(10 * 1024 * MIB).encode())])
        elif path.endswith("/endless") or path == SEARCH_PATH:
            await self._endless(send, receive, [])
        else:
            await self._whole(send, json.dumps(PAYLOAD).encode(), [])

    async def _whole(self, send: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.sent += len(body)

    async def _endless(self, send: Any, receive: Any, headers: list[tuple[bytes, bytes]]) -> None:
        """``{"data": [{}, {}, ...`` until the client hangs up (no Content-Length: chunked)."""

        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            self.hung_up.set()

        watcher = asyncio.ensure_future(watch())
        headers = [(b"content-type", b"application/json"), *headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        piece = b"{}," * (self.chunk // 3)
        try:
            await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
            while not gone.is_set() and self.sent < self.cap:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                self.sent += len(piece)
                # uvicorn's send returns at once after a hang-up: yield, or the watcher never runs.
                await asyncio.sleep(0)
        except Exception:  # uvicorn may refuse a send after the hang-up
            self.hung_up.set()
        finally:
            watcher.cancel()


class Counting(httpx.AsyncBaseTransport):
    """The real transport, counting the body bytes the client pulled off the connection."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        counter = self
        raw = response.stream
        assert isinstance(raw, httpx.AsyncByteStream)
        stream: httpx.AsyncByteStream = raw  # typed for the class below (narrowing does not reach it)

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in stream:
                    counter.read += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await stream.aclose()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Counted(), extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def peer() -> Iterator[tuple[Peer, str]]:
    state = Peer()
    with serve(state) as url:
        yield state, url


def make_api(url: str, transport: Counting, **options: Any) -> HttpApi:
    knobs: dict[str, Any] = {"max_answer_bytes": LIMIT, "max_retries": 3, "request_timeout": 10.0}
    return HttpApi(
        label="Fake",
        base_url=url,
        options=ProviderOptions(**{**knobs, **options}, transport_factory=lambda _verify: transport),
        secrets=["SECRETdd0123456789"],
        headers={"Authorization": "Bearer tok_SECRETdd0123456789"},
    )


async def test_a_normal_answer_and_a_gzip_one_still_read_whole(peer: tuple[Peer, str]) -> None:
    _state, url = peer
    api = make_api(url, Counting())
    try:
        plain = await api.request("GET", "/page")
        assert api.json(plain) == PAYLOAD and plain.headers["content-type"] == "application/json"
        zipped = await api.request("GET", "/gzip")
        assert zipped.headers["content-encoding"] == "gzip"
        assert api.json(zipped) == PAYLOAD and zipped.text == json.dumps(PAYLOAD)
    finally:
        await api.aclose()


async def test_an_endless_chunked_answer_stops_at_the_limit_and_hangs_up(peer: tuple[Peer, str]) -> None:
    """No Content-Length: the body is read until it passes the limit, not one chunk further; the
    connection is closed (the peer sees the hang-up), and the answer is not retried."""
    state, url = peer
    transport = Counting()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    api = make_api(url, transport, sleep=sleep)
    try:
        with pytest.raises(AnswerTooLarge) as caught:
            await api.request("GET", "/endless")
    finally:
        await api.aclose()
    assert LIMIT < transport.read <= LIMIT + 64 * 1024  # at most one chunk past the limit
    assert state.requests == ["/endless"] and sleeps == []  # not retried
    assert await asyncio.to_thread(state.hung_up.wait, 10)
    message = str(caught.value)
    assert "Fake sent an answer larger than 1 MiB (HTTP 200)" in message
    assert "check base_url" in message and "SECRET" not in message
    assert caught.value.kind == "provider_error" and caught.value.field == "base_url"


async def test_a_gzip_bomb_is_refused_on_its_decoded_size(peer: tuple[Peer, str]) -> None:
    """16 MiB that arrive as about 16 KiB: what arrives is far under the limit, what it inflates to
    is not, and inflating stops there."""
    state, url = peer
    transport = Counting()
    api = make_api(url, transport)
    try:
        with pytest.raises(AnswerTooLarge, match="larger than 1 MiB"):
            await api.request("GET", "/bomb")
    finally:
        await api.aclose()
    assert transport.read < 100 * 1024 and state.requests == ["/bomb"]


async def test_an_announced_content_length_over_the_limit_is_refused_before_reading(
    peer: tuple[Peer, str],
) -> None:
    state, url = peer
    transport = Counting()
    api = make_api(url, transport)
    try:
        with pytest.raises(AnswerTooLarge, match="larger than 1 MiB"):
            await api.request("GET", "/announced")
    finally:
        await api.aclose()
    assert transport.read == 0
    assert await asyncio.to_thread(state.hung_up.wait, 10)


@pytest.mark.parametrize("status", [400, 500])
async def test_error_answers_are_bounded_too(peer: tuple[Peer, str], status: int) -> None:
    """A 4xx is read for its message and a 5xx after its last retry: within the limit, like any
    answer. A 5xx that is retried is not read at all."""
    state, url = peer
    state.status = status
    transport = Counting()

    async def sleep(_seconds: float) -> None:
        return None

    api = make_api(url, transport, max_retries=1, sleep=sleep)
    try:
        with pytest.raises(AnswerTooLarge, match=f"larger than 1 MiB \\(HTTP {status}\\)"):
            await api.request("GET", "/endless")
    finally:
        await api.aclose()
    assert len(state.requests) == (2 if status == 500 else 1)
    assert transport.read <= LIMIT + 64 * 1024


async def test_a_corrupt_compressed_answer_is_a_provider_error(peer: tuple[Peer, str]) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"\x1f\x8b not gzip at all"

        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=body())

    options = ProviderOptions(max_retries=0, transport_factory=lambda _verify: httpx.MockTransport(handler))
    api = HttpApi(label="Fake", base_url="http://127.0.0.1:9", options=options, secrets=[])
    with pytest.raises(ProviderError, match="could not be decoded"):
        await api.request("GET", "/")
    await api.aclose()


async def test_the_datadog_provider_reports_it_as_its_error(peer: tuple[Peer, str]) -> None:
    """A provider passes it on: the option reaches its ``HttpApi``, the message names Datadog."""
    _state, url = peer
    model = DatadogSettings(api_key=API_KEY, application_key=APPLICATION_KEY, base_url=url)
    provider = DatadogProvider(model, ProviderOptions(max_answer_bytes=LIMIT, max_retries=0))
    now = datetime.now(UTC)
    query = Query(start=now - timedelta(hours=1), end=now)
    try:
        with pytest.raises(AnswerTooLarge, match="Datadog sent an answer larger than 1 MiB"):
            async for _record in provider.search(query):
                pass
    finally:
        await provider.aclose()


async def test_a_poll_that_gets_a_huge_answer_shows_it_in_health(
    rt: Runtime, seeded: Seeded, clock: Clock, peer: tuple[Peer, str]
) -> None:
    """Through the importer, with the default limit (64 MiB): the poll fails, the integration's
    health holds the message, and the worker read no more than the limit."""
    state, url = peer
    state.chunk = MIB
    raw = {"api_key": API_KEY, "application_key": APPLICATION_KEY, "base_url": url}
    integration_id = add_integration(rt, seeded.project_id, "datadog", raw, clock)
    importer = Importer(context_for(rt, clock), owner="worker-a")
    results = await one_round(importer)
    assert [result.outcome for result in results] == ["error"]
    row = integration(rt, integration_id)
    assert row.last_error_kind == "provider_error" and not row.needs_attention
    assert row.last_error is not None and "Datadog sent an answer larger than 64 MiB" in row.last_error
    assert API_KEY not in row.last_error and APPLICATION_KEY not in row.last_error
    assert state.requests == [SEARCH_PATH]  # not retried
    assert await asyncio.to_thread(state.hung_up.wait, 10)
    assert state.sent < 64 * MIB + 64 * MIB  # the worker hung up near the limit (plus socket buffers)
