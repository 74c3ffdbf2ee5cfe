"""A local HTTP server that records every request it receives and refuses them all (401).

Used to prove where credentials go: point an integration's address at it and read what arrived.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.common import serve

_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]{8,}")


@dataclass
class Captured:
    """Every request one capture server received, as text (method, target, headers, body)."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str) -> None:
        with self.lock:
            self.requests.append(text)

    def everything(self) -> str:
        """All requests, plus every base64 run in them decoded (Basic and ApiKey headers)."""
        with self.lock:
            raw = "\n".join(self.requests)
        decoded = []
        for run in _BASE64.findall(raw):
            for alphabet in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    decoded.append(alphabet(run + "=" * (-len(run) % 4)).decode("utf-8", "replace"))
                except (binascii.Error, ValueError):
                    continue
        return "\n".join([raw, *decoded])


@contextmanager
def capture_server() -> Iterator[Captured]:
    captured = Captured()

    async def record(request: Request) -> JSONResponse:
        body = (await request.body()).decode("utf-8", "replace")
        headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
        captured.add(f"{request.method} {request.url}\n{headers}\n\n{body}")
        return JSONResponse({"errors": ["unauthorized"], "message": "unauthorized"}, status_code=401)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", record, methods=methods)])
    with serve(app) as url:
        captured.url = url
        yield captured
