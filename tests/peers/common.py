"""Shared plumbing of the contract fakes: a real HTTP server on 127.0.0.1 in a thread,
fault injection, and a record of the requests each fake received.

Every fake is a Starlette/FastAPI app built by a ``make_app(state)`` function; it mounts
:func:`control_routes` under ``/_fake`` so tests, benchmarks and the demo (another process)
can seed records, queue faults and read back requests over HTTP as well as in Python.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import APIRouter, Request

FAULTS = ("429", "500", "slow", "truncated", "endless_cursor", "bad_json")


@dataclass
class Fault:
    """One injected fault. ``kind`` is one of :data:`FAULTS`; ``times`` how many requests it hits."""

    kind: str
    times: int = 1
    retry_after: float = 1.0
    delay: float = 30.0
    path_contains: str = ""


@dataclass
class FakeState:
    """What a fake knows: its records, pending faults, and the requests it saw."""

    records: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.records.extend(records)

    def clear(self) -> None:
        with self.lock:
            self.records.clear()
            self.faults.clear()
            self.requests.clear()

    def inject(self, kind: str, times: int = 1, **kwargs: Any) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self.faults.append(Fault(kind=kind, times=times, **kwargs))

    def take_fault(self, path: str) -> Fault | None:
        """Pop the next fault that applies to ``path`` (decrementing its count)."""
        with self.lock:
            for fault in list(self.faults):
                if fault.path_contains and fault.path_contains not in path:
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log_request(self, request: Request, body: Any = None) -> None:
        with self.lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params.multi_items()),
                    "headers": dict(request.headers),
                    "body": body,
                }
            )


def control_routes(state: FakeState) -> APIRouter:
    """``/_fake`` endpoints: POST records, POST faults, GET requests, POST reset."""
    router = APIRouter(prefix="/_fake")

    @router.post("/records")
    async def add(records: list[dict[str, Any]]) -> dict[str, int]:
        state.add_records(records)
        return {"count": len(state.records)}

    @router.post("/faults")
    async def fault(spec: dict[str, Any]) -> dict[str, str]:
        state.inject(**spec)
        return {"ok": "queued"}

    @router.get("/requests")
    async def seen() -> list[dict[str, Any]]:
        return state.requests

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        state.clear()
        return {"ok": "reset"}

    return router


async def slow(fault: Fault) -> None:
    await asyncio.sleep(fault.delay)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any, port: int | None = None, **uvicorn_options: Any) -> Iterator[str]:
    """Run an ASGI ``app`` with uvicorn on 127.0.0.1 in a daemon thread; yield its base URL.

    ``uvicorn_options`` go to ``uvicorn.Config`` (e.g. ``ssl_certfile``/``ssl_keyfile``: https).
    """
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **uvicorn_options
    )
    scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
