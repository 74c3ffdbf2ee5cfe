"""Benchmark: search n token-tagged error events on the Sentry contract fake (page size 100).

Run: ``python -m bench.providers_sentry``. Each event costs one row of an events page plus one
event-detail request (the stack and tags), so the figure is dominated by detail round trips.
The fake runs in its own process: in a thread of this one, the two would mostly measure the GIL.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn

from bench.search_timing import time_search
from replaylink.providers.base import ProviderOptions, Query
from replaylink.providers.sentry import MAX_PAGE, SentryProvider, SentrySettings
from tests.peers.common import free_port
from tests.peers.sentry_fake import ORG, PROJECT, USER_TOKEN, SentryState, make_app, sentry_event

SEED_CHUNK = 2000


def _serve(port: int) -> None:
    uvicorn.run(make_app(SentryState()), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def fake_process() -> Iterator[str]:
    """The fake in a child process; yields its base URL and stops it afterwards."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_fake/requests", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the Sentry fake did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.join(timeout=5)


async def bench(n_records: int = 20000) -> dict[str, float | str]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    events = [
        sentry_event(f"s{i % 500}.Tok{i}", start + timedelta(milliseconds=10 * i)) for i in range(n_records)
    ]
    with fake_process() as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            for first in range(0, n_records, SEED_CHUNK):
                client.post("/_fake/records", json=events[first : first + SEED_CHUNK]).raise_for_status()
        settings = SentrySettings(token=USER_TOKEN, organization_slug=ORG, project_slug=PROJECT, base_url=url)
        query = Query(start=start, end=start + timedelta(days=1), page_size=MAX_PAGE)
        async with SentryProvider(settings, ProviderOptions(request_timeout=60)) as provider:
            return await time_search(provider, query, n_records)


if __name__ == "__main__":
    print(asyncio.run(bench()))
