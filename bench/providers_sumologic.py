"""Benchmark: one Sumo Logic search job over n token-carrying messages, paged by 10,000.

Run: ``python -m bench.providers_sumologic``. The fake runs in this process (a uvicorn thread),
so the figure includes the fake's own query evaluation and JSON encoding. Its jobs take a set
time to finish (``seconds_to_done``, like the real service), whatever the polling. ``bench()``
(used by ``bench.providers``) polls as production does; the module's own run prints the round-1
fixed 2 s polling (``before``) beside the adaptive default for several job durations.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

from bench.search_timing import time_search
from replaylink.providers.base import Query
from replaylink.providers.sumologic import SumoLogicOptions, SumoLogicProvider, SumoLogicSettings
from tests.peers.sumologic_fake import ACCESS_ID, ACCESS_KEY, message, running

PAGE_SIZE = 10_000
JOB_SECONDS = 0.5
"""How long the fake's jobs take by default: a poll window's search on a real deployment."""
ROUND1_INTERVAL = 2.0
"""The fixed polling interval round 1 used by default."""
CASES = [(0.1, 5000), (0.5, 5000), (1.0, 5000), (2.0, 5000), (5.0, 5000), (0.5, 20000)]
"""(job seconds, records) of the comparison."""


async def bench(
    n_records: int = 20000, job_seconds: float = JOB_SECONDS, poll_interval: float | None = None
) -> dict[str, float | str]:
    """One search over ``n_records``; ``poll_interval`` None polls adaptively (the default)."""
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
        peer.state.seconds_to_done = job_seconds
        settings = SumoLogicSettings(access_id=ACCESS_ID, access_key=ACCESS_KEY, base_url=peer.api_url)
        options = SumoLogicOptions(request_timeout=60, job_poll_interval=poll_interval)
        query = Query(start=start, end=start + timedelta(days=1), page_size=PAGE_SIZE)
        async with SumoLogicProvider(settings, options) as provider:
            result = await time_search(provider, query, n_records)
        polls = [r for r in peer.state.requests_to("GET", "/jobs/") if "/messages" not in r["path"]]
        result["status_polls"] = len(polls)
        return result


def main() -> None:
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}; before = fixed {ROUND1_INTERVAL:g} s polls, after = adaptive")
    head = ["job s", "records", "before s", "polls", "after s", "polls", "speed-up"]
    print(" ".join(f"{name:>9}" for name in head))
    for job_seconds, n_records in CASES:
        before = asyncio.run(bench(n_records, job_seconds, ROUND1_INTERVAL))
        after = asyncio.run(bench(n_records, job_seconds))
        ratio = float(before["seconds"]) / float(after["seconds"])
        print(
            f"{job_seconds:>9g} {n_records:>9} {float(before['seconds']):>9.2f} {before['status_polls']:>9} "
            f"{float(after['seconds']):>9.2f} {after['status_polls']:>9} {ratio:>8.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
