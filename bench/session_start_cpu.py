"""Where a session start's CPU goes, in process: the ASGI app called directly, no HTTP server.

Run: ``python -m bench.session_start_cpu [--targets sqlite,postgres] [--concurrent 25] [--profile]``.

For each database, ``--concurrent`` starts at a time (so they are written in batches of about that
size) go through ``create_app``'s whole middleware stack, 40 rounds, best of 3; printed: CPU per
start (``time.process_time``, all threads) with the batch write in a worker thread as served, with
the batch write called inline (one thread: what a cProfile of it shows is CPU, not waiting for
the GIL), and with the database write stubbed out (the middleware, parsing and the answer only).
``--profile`` prints the inline run's cProfile, by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import pstats
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from starlette.types import Message

from bench.session_starts import PG_URL, SECRET, prepare, start_body
from bench.support import scratch_database
from replaylink.api import group_commit
from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store.sessions import StartedSession

ROUNDS = 40


async def call(app: FastAPI, body: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ingest/v1/sessions",
        "raw_path": b"/ingest/v1/sessions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"origin", b"https://shop.example"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise RuntimeError(f"a start answered {status}")


async def cpu_per_start(app: FastAPI, bodies: list[bytes], concurrent: int, profile: bool) -> float:
    async def rounds() -> None:
        for r in range(ROUNDS):
            start = r * concurrent % (len(bodies) - concurrent)
            await asyncio.gather(*(call(app, b) for b in bodies[start : start + concurrent]))

    await rounds()  # warm-up
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        await rounds()
        best = min(best, (time.process_time() - began) / (ROUNDS * concurrent))
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await rounds()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return best * 1000


async def _run_inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class _Stub:
    async def submit(self, _item: object) -> StartedSession:
        return StartedSession(1, 1, "token", datetime.now(UTC))


@contextmanager
def inline_writes() -> Iterator[None]:
    real = group_commit.anyio
    # group_commit's ``anyio.to_thread.run_sync``, on the event loop's thread instead
    group_commit.anyio = SimpleNamespace(to_thread=SimpleNamespace(run_sync=_run_inline))  # type: ignore[assignment]
    try:
        yield
    finally:
        group_commit.anyio = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", default="sqlite,postgres")
    parser.add_argument("--concurrent", type=int, default=25)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING - 1)
    for kind in args.targets.split(","):
        with (
            tempfile.TemporaryDirectory() as name,
            scratch_database(kind, Path(name), args.pg_url, "rl_bench_start_cpu") as url,
        ):
            key = prepare(url, Path(name))
            rt = Runtime(
                Settings(data_dir=Path(name), database_url=url, secret_key=SECRET, encryption_key=SECRET)
            )
            rng = random.Random(1)
            bodies = [json.dumps(start_body(rng, key, None)).encode() for _ in range(500)]
            try:
                app = create_app(rt)
                served = asyncio.run(cpu_per_start(app, bodies, args.concurrent, False))
                with inline_writes():
                    inline = asyncio.run(cpu_per_start(create_app(rt), bodies, args.concurrent, args.profile))
                app = create_app(rt)
                app.state.session_starts = _Stub()
                stubbed = asyncio.run(cpu_per_start(app, bodies, args.concurrent, False))
            finally:
                rt.close()
        print(
            f"{kind}: {served:.3f} ms CPU per start as served, {inline:.3f} with the batch write inline, "
            f"{stubbed:.3f} without the database ({args.concurrent} at a time)",
            flush=True,
        )


if __name__ == "__main__":
    main()
