"""Benchmark: one Sumo Logic search job over n token-carrying messages, paged by 10,000.

Run: ``python -m bench.providers_sumologic``. The fake runs in this process (a uvicorn thread),
so the figure includes the fake's own query evaluation and JSON encoding.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bench.search_timing import time_search
from replaylink.providers.base import Query
from replaylink.providers.sumologic import SumoLogicOptions, SumoLogicProvider, SumoLogicSettings
from tests.peers.sumologic_fake import ACCESS_ID, ACCESS_KEY, message, running

PAGE_SIZE = 10_000


async def bench(n_records: int = 20000) -> dict[str, float | str]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    messages = [
        message(
            f"ERROR [openReplaySessionToken=s{i % 500}.Tok{i}] request failed",
            start + timedelta(milliseconds=10 * i),
        )
        for i in range(n_records)
    ]
    with running() as peer:
        peer.state.add_records(messages)
        settings = SumoLogicSettings(access_id=ACCESS_ID, access_key=ACCESS_KEY, base_url=peer.api_url)
        options = SumoLogicOptions(request_timeout=60, job_poll_interval=0.01)
        query = Query(start=start, end=start + timedelta(days=1), page_size=PAGE_SIZE)
        async with SumoLogicProvider(settings, options) as provider:
            return await time_search(provider, query, n_records)


if __name__ == "__main__":
    print(asyncio.run(bench()))
