"""Benchmark: page through n_records marked documents in osmem (OpenSearch PIT, pages of 500)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bench.search_timing import time_search
from replaylink.providers.base import Query
from replaylink.providers.elasticsearch import ElasticsearchProvider, ElasticsearchSettings
from tests.peers.osmem_peer import KIBANA_LOGS_MAPPING, fresh_cluster, running_osmem

PAGE_SIZE = 500
START = datetime(2026, 1, 1, tzinfo=UTC)


async def bench(n_records: int = 20000) -> dict[str, float | str]:
    with running_osmem() as server, fresh_cluster(server) as cluster:
        cluster.create_index("app-logs", KIBANA_LOGS_MAPPING)
        cluster.seed(
            "app-logs",
            [
                {
                    "utc_time": (START + timedelta(milliseconds=i)).isoformat(),
                    "message": f"[openReplaySessionToken=s{i % 97}.Tok] error {i}",
                    "tags": ["error"],
                }
                for i in range(n_records)
            ],
        )
        settings = ElasticsearchSettings(host=cluster.url)
        query = Query(start=START, end=START + timedelta(days=1), token=None, page_size=PAGE_SIZE)
        async with ElasticsearchProvider(settings) as provider:
            return await time_search(provider, query, n_records)


if __name__ == "__main__":
    print(asyncio.run(bench()))
