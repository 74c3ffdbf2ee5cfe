"""Cost of the Python SDK: per log record and per request. Run: ``python -m bench.sdk``.

Log records: plain logging, the SDK installed (outside and inside a request), the round-1 SDK
record factory inside a request (``before``, kept here as the baseline) and the seed
documentation's monkey patch (a ``sys.stderr`` replacement that prefixes every write).
Requests: a minimal ASGI app and minimal WSGI apps called directly in a loop, with and without
the middleware. Each figure is the best of many short rounds of thread CPU time (a shared machine
preempting the process does not count), interleaved so that the remaining noise hits every variant
alike; the "median added" column is the median over rounds of the difference to plain logging in
the same round. Exits 1 if a floor is missed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from replaylink_sdk import HEADER, use_token
from replaylink_sdk import logging as sdk_logging
from replaylink_sdk.asgi import SessionTokenMiddleware as ASGIMiddleware
from replaylink_sdk.context import noted_token, token_var
from replaylink_sdk.marker import MARKER, Prefix
from replaylink_sdk.wsgi import SessionTokenMiddleware as WSGIMiddleware

TOKEN = "1.3nG7kQ2.1.1aZ9Tq.5fK2m9XqLw7pR3sT8vY1bC"
RECORD_FLOOR_NS = 500
REQUEST_FLOOR_NS = 10_000
ROUNDS = 150
RECORDS = 1_000
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


def rounds_ns(runs: dict[str, Callable[[int], None]], count: int) -> dict[str, list[float]]:
    """CPU ns per operation of each ``run(count)`` in every round; rounds interleave the runs."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            start = time.thread_time_ns()
            run(count)
            times[name].append((time.thread_time_ns() - start) / count)
    return times


def best_ns(runs: dict[str, Callable[[int], None]], count: int) -> dict[str, float]:
    """Best CPU time per operation of each ``run(count)``."""
    return {name: min(times) for name, times in rounds_ns(runs, count).items()}


class Round1Record(logging.LogRecord):
    """The round-1 design (``before``): ``super()`` and a prefix rendered per call."""

    prefix = Prefix()

    def getMessage(self) -> str:
        return Round1Record.prefix.apply(super().getMessage(), self.__dict__[MARKER])


def round1_factory(count: int) -> None:
    """Logs through the round-1 record factory: wrap the stock one, then swap the record's class."""
    previous = logging.getLogRecordFactory()
    get_token = token_var.get
    classes: dict[type[logging.LogRecord], type[logging.LogRecord]] = {logging.LogRecord: Round1Record}

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        token = get_token()
        if token is None and isinstance(record.exc_info, tuple):
            token = noted_token(record.exc_info[1])
        if token is not None:
            record.__dict__[MARKER] = token
            record.__class__ = classes[record.__class__]
        return record

    logging.setLogRecordFactory(factory)
    try:
        with use_token(TOKEN):
            log_records(logger_to(NullSink()))(count)
    finally:
        logging.setLogRecordFactory(previous)


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


def bench_logging() -> dict[str, list[float]]:
    return rounds_ns(
        {
            "plain logging": plain_records,
            "seed monkey patch, token set": seed_records,
            "SDK, outside a request": sdk_records(None),
            "before: round-1 SDK, inside": round1_factory,
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
    plain_rounds = records["plain logging"]
    plain = min(plain_rounds)
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ns per record, {ROUNDS} rounds of {RECORDS}")
    print(f"{'per log record':<34}{'best ns':>9}{'added ns':>10}{'ratio':>8}{'median added':>14}")
    for name, times in records.items():
        ns = min(times)
        paired = statistics.median(t - p for t, p in zip(times, plain_rounds, strict=True))
        print(f"{name:<34}{ns:>9.0f}{ns - plain:>10.0f}{ns / plain:>8.2f}{paired:>14.0f}")
    record_added = min(records["SDK, inside a request"]) - plain
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
