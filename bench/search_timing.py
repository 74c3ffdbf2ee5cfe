"""Time one provider search to the end: the measurement every ``bench.providers_*`` module shares."""

from __future__ import annotations

import time

from replaylink.providers.base import Provider, Query


async def time_search(provider: Provider, query: Query, expected: int) -> dict[str, float | str]:
    """Page through ``query``; fail unless exactly ``expected`` records came back."""
    began = time.perf_counter()
    found = sum([1 async for _ in provider.search(query)])
    seconds = time.perf_counter() - began
    if found != expected:
        raise RuntimeError(f"{provider.name}: found {found} of {expected} records")
    return {
        "provider": provider.name,
        "records": found,
        "seconds": round(seconds, 3),
        "records_per_s": round(found / seconds, 1),
    }
