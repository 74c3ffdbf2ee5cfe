"""Benchmark: search n token-carrying error lines in one CloudWatch log group on moto (pages of 1,000).

Run: ``python -m bench.providers_cloudwatch``. moto runs in its own process (in a thread of this
one, the two would mostly measure the GIL); every FilterLogEvents page is one boto3 call made in a
worker thread, then parsed and checked client-side.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bench.search_timing import time_search
from replaylink.providers.base import ProviderOptions, Query
from replaylink.providers.cloudwatch import CloudWatchProvider, CloudWatchSettings
from tests.peers import cloudwatch_peer as peer

GROUP = "/bench/app"
STREAMS = 4
PAGE_SIZE = 1000


async def bench(n_records: int = 20000) -> dict[str, float | str]:
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    step_ms = max(1, 3_600_000 // max(n_records, 1))
    with peer.moto_process() as endpoint:
        for stream in range(STREAMS):
            events = [
                (
                    int(start.timestamp() * 1000) + i * step_ms,
                    f"ERROR [openReplaySessionToken=s{i % 500}.Tok{i}] boom",
                )
                for i in range(stream, n_records, STREAMS)
            ]
            peer.seed(endpoint, GROUP, f"web/{stream}", events)
        settings = CloudWatchSettings(
            aws_access_key_id=peer.TEST_KEY,
            aws_secret_access_key=peer.TEST_KEY,
            region=peer.REGION,
            log_group_names=[GROUP],
            endpoint_url=endpoint,
        )
        query = Query(start=start, end=datetime.now(UTC), page_size=PAGE_SIZE)
        async with CloudWatchProvider(settings, ProviderOptions(request_timeout=60)) as provider:
            return await time_search(provider, query, n_records)


if __name__ == "__main__":
    print(asyncio.run(bench()))
