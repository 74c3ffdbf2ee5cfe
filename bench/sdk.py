"""Cost of the Python SDK: per log record and per request. Run: ``python -m bench.sdk``.

Log records: plain logging, the SDK installed (outside and inside a request) and the seed
documentation's monkey patch (a ``sys.stderr`` replacement that prefixes every write).
Requests: a minimal ASGI app and minimal WSGI apps called directly in a loop, with and without
the middleware. Each figure is the best of many short rounds, interleaved so that the noise of a
shared machine hits every variant alike. Exits 1 if a floor is missed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from replaylink_sdk import HEADER, use_token
from replaylink_sdk import logging as sdk_logging
from replaylink_sdk.asgi import SessionTokenMiddleware as ASGIMiddleware
from replaylink_sdk.wsgi import SessionTokenMiddleware as WSGIMiddleware

TOKEN = "1.3nG7kQ2.1.1aZ9Tq.5fK2m9XqLw7pR3sT8vY1bC"
RECORD_FLOOR_NS = 1_000
REQUEST_FLOOR_NS = 10_000
ROUNDS = 60
RECORDS = 2_000
REQUESTS = 2_000


class NullSink:
    """A stream that drops what it is given (so only logging's own work is measured)."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class SeedStderr:
    """The seed snippet's ``class F``: prefixes every write while its global token is set."""

    token: str | None = None

    def __init__(self, sink: NullSink) -> None:
        self.sink = sink

    def write(self, x: str) -> None:
        if SeedStderr.token is not None and x != "\n":
            self.sink.write(f"[openReplaySessionToken={SeedStderr.token}] {x}")
        else:
            self.sink.write(x)

    def flush(self) -> None:
        pass


def best_ns(runs: dict[str, Callable[[int], None]], count: int) -> dict[str, float]:
    """Best time per operation of each ``run(count)``; rounds interleave the runs against drift."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):
        for name, run in runs.items():
            start = time.perf_counter_ns()
            run(count)
            best[name] = min(best[name], (time.perf_counter_ns() - start) / count)
    return best


def logger_to(stream: Any) -> logging.Logger:
    logger = logging.getLogger("bench.sdk")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_records(logger: logging.Logger) -> Callable[[int], None]:
    def run(count: int) -> None:
        for index in range(count):
            logger.info("order %d paid", index)

    return run


def plain_records(count: int) -> None:
    log_records(logger_to(NullSink()))(count)


def seed_records(count: int) -> None:
    SeedStderr.token = TOKEN
    try:
        log_records(logger_to(SeedStderr(NullSink())))(count)
    finally:
        SeedStderr.token = None


def sdk_records(token: str | None) -> Callable[[int], None]:
    def run(count: int) -> None:
        sdk_logging.install()
        try:
            with use_token(token):
                log_records(logger_to(NullSink()))(count)
        finally:
            sdk_logging.uninstall()

    return run


def bench_logging() -> dict[str, float]:
    return best_ns(
        {
            "plain logging": plain_records,
            "seed monkey patch, token set": seed_records,
            "SDK, outside a request": sdk_records(None),
            "SDK, inside a request": sdk_records(TOKEN),
        },
        RECORDS,
    )


HEADERS = [
    (b"host", b"shop.example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
    (b"accept", b"application/json"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"content-type", b"application/json"),
    (b"cookie", b"session=abc123; theme=dark"),
    (b"origin", b"https://shop.example.com"),
    (b"referer", b"https://shop.example.com/cart"),
    (HEADER.lower().encode(), TOKEN.encode()),
]
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
BODY = {"type": "http.response.body", "body": b"ok"}


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    pass


def asgi_requests(app: Any) -> Callable[[int], None]:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": HEADERS}

    async def loop(count: int) -> None:
        for _ in range(count):
            await app(scope, receive, send)

    return lambda count: asyncio.run(loop(count))


def wsgi_list_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def wsgi_generator_app(environ: Any, start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"ok"


def wsgi_requests(app: Any) -> Callable[[int], None]:
    environ = {"HTTP_" + name.decode().upper().replace("-", "_"): value.decode() for name, value in HEADERS}
    environ.update({"REQUEST_METHOD": "GET", "PATH_INFO": "/"})

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    def run(count: int) -> None:
        for _ in range(count):
            result = app(environ, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return run


def bench_requests() -> dict[str, tuple[float, float]]:
    """Per-request (without, with) middleware for each app."""
    apps: dict[str, tuple[Callable[[Any], Callable[[int], None]], Any, Any]] = {
        "ASGI app": (asgi_requests, asgi_app, ASGIMiddleware),
        "WSGI app, list body": (wsgi_requests, wsgi_list_app, WSGIMiddleware),
        "WSGI app, generator body": (wsgi_requests, wsgi_generator_app, WSGIMiddleware),
    }
    runs = {}
    for name, (driver, app, middleware) in apps.items():
        runs[name] = driver(app)
        runs[name + " +middleware"] = driver(middleware(app))
    best = best_ns(runs, REQUESTS)
    return {name: (best[name], best[name + " +middleware"]) for name in apps}


def main() -> int:
    records = bench_logging()
    plain = records["plain logging"]
    print(f"{'per log record':<34}{'ns':>9}{'added ns':>10}{'ratio':>8}")
    for name, ns in records.items():
        print(f"{name:<34}{ns:>9.0f}{ns - plain:>10.0f}{ns / plain:>8.2f}")
    record_added = records["SDK, inside a request"] - plain
    print(f"floor: the SDK adds < {RECORD_FLOOR_NS} ns per record: {verdict(record_added, RECORD_FLOOR_NS)}")
    print()

    print(f"{'per request':<34}{'without':>9}{'with':>10}{'added ns':>10}")
    request_added = 0.0
    for name, (without, with_middleware) in bench_requests().items():
        request_added = max(request_added, with_middleware - without)
        print(f"{name:<34}{without:>9.0f}{with_middleware:>10.0f}{with_middleware - without:>10.0f}")
    request_verdict = verdict(request_added, REQUEST_FLOOR_NS)
    print(f"floor: a middleware adds < {REQUEST_FLOOR_NS} ns per request: {request_verdict}")
    return 0 if record_added < RECORD_FLOOR_NS and request_added < REQUEST_FLOOR_NS else 1


def verdict(added: float, floor: int) -> str:
    return f"{added:.0f} ns, {'met' if added < floor else 'MISSED'}"


if __name__ == "__main__":
    sys.exit(main())
