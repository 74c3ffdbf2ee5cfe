"""Benchmark: page through n token-carrying logs on the Datadog contract fake (page size 1000).

Run: ``python -m bench.providers_datadog``. The fake runs in this process (a uvicorn thread),
so the figure includes the fake's own query evaluation and JSON encoding.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bench.search_timing import time_search
from replaylink.providers.base import ProviderOptions, Query
from replaylink.providers.datadog import DatadogProvider, DatadogSettings
from tests.peers.datadog_fake import API_KEY, APPLICATION_KEY, make_log, running

PAGE_SIZE = 1000


async def bench(n_records: int = 20000) -> dict[str, float | str]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    logs = [
        make_log(
            f"[openReplaySessionToken=s{i % 500}.Tok{i}] request failed",
            timestamp=start + timedelta(milliseconds=10 * i),
            status="error",
            service="bench",
        )
        for i in range(n_records)
    ]
    with running() as peer:
        peer.state.add_records(logs)
        settings = DatadogSettings(api_key=API_KEY, application_key=APPLICATION_KEY, base_url=peer.url)
        query = Query(start=start, end=start + timedelta(days=1), page_size=PAGE_SIZE)
        async with DatadogProvider(settings, ProviderOptions(request_timeout=60)) as provider:
            return await time_search(provider, query, n_records)


if __name__ == "__main__":
    print(asyncio.run(bench()))
