"""Outbound propagation against a local HTTP server: 127.0.0.1 is allowed, localhost is not."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import aiohttp
import httpx
import pytest
import requests
from sdk_support import TOKEN

from replaylink_sdk import HEADER, use_token
from replaylink_sdk.outbound import Propagator

Seen = list[tuple[str, str, "str | None"]]
Fetch = Callable[[Propagator, list[str]], Awaitable[None]]


class Server(ThreadingHTTPServer):
    seen: Seen


class RecordingHandler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        host = self.headers["Host"].rsplit(":", 1)[0]
        self.server.seen.append((host, self.path, self.headers.get(HEADER)))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/target")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), RecordingHandler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def with_httpx(propagator: Propagator, urls: list[str]) -> None:
    with httpx.Client(event_hooks=propagator.httpx_hooks(), follow_redirects=True) as client:
        for url in urls:
            client.get(url)


async def with_httpx_async(propagator: Propagator, urls: list[str]) -> None:
    hooks = propagator.httpx_async_hooks()
    async with httpx.AsyncClient(event_hooks=hooks, follow_redirects=True) as client:
        for url in urls:
            await client.get(url)


async def with_requests(propagator: Propagator, urls: list[str]) -> None:
    with propagator.mount(requests.Session()) as session:
        for url in urls:
            session.get(url)


async def with_aiohttp(propagator: Propagator, urls: list[str]) -> None:
    async with aiohttp.ClientSession(trace_configs=[propagator.aiohttp_trace_config()]) as session:
        for url in urls:
            async with session.get(url) as response:
                await response.read()


CLIENTS = pytest.mark.parametrize("fetch", [with_httpx, with_httpx_async, with_requests, with_aiohttp])


@CLIENTS
async def test_header_only_on_allowed_hosts_and_not_after_redirects(server: Server, fetch: Fetch) -> None:
    port = server.server_port
    urls = [f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"http://127.0.0.1:{port}/redirect"]
    with use_token(TOKEN):
        await fetch(Propagator(["127.0.0.1"]), urls)
    assert server.seen == [
        ("127.0.0.1", "/", TOKEN),
        ("localhost", "/", None),
        ("127.0.0.1", "/redirect", TOKEN),
        ("localhost", "/target", None),
    ]


@CLIENTS
async def test_no_header_outside_a_request(server: Server, fetch: Fetch) -> None:
    await fetch(Propagator(["127.0.0.1"]), [f"http://127.0.0.1:{server.server_port}/"])
    assert server.seen == [("127.0.0.1", "/", None)]


def test_host_matching() -> None:
    propagator = Propagator(["API.internal", ".example.com."])
    assert propagator.allows("api.internal")
    assert propagator.allows("example.com") and propagator.allows("a.b.EXAMPLE.com.")
    assert not propagator.allows("badexample.com")
    assert not propagator.allows("api.internal.evil.net")
    assert not propagator.allows(None)
