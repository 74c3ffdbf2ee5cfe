"""Benchmark: search n token-tagged error events on the Sentry contract fake (page size 100).

Run: ``python -m bench.providers_sentry [--records 20000] [--issues 1,10,100] [--before REV]``.

Each Discover page of 100 events costs one request, then one request per issue on the page for
the events' full bodies (and one event-detail request per event without an issue). The events are
spread over ``--issues`` issues with Zipf-like frequencies (issue k about 1/k as often as the
first), so a page holds a few busy issues and some rare ones. ``--before REV`` first measures the
code of REV (a ``git worktree``, its ``src`` first on the path) against the same fake, for a
before/after from one run. The fake runs in its own process: in a thread of this one, the two would
mostly measure the GIL. CPU per record is given for both processes (from ``/proc``), since on the
shared machine wall time is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.importer_pipeline import before_worktree
from bench.search_timing import time_search
from bench.support import process_cpu_seconds
from replaylink.providers.base import ProviderOptions, Query
from replaylink.providers.sentry import MAX_PAGE, SentryProvider, SentrySettings
from tests.peers.common import free_port
from tests.peers.sentry_fake import ORG, PROJECT, USER_TOKEN, SentryState, make_app, sentry_event

SEED_CHUNK = 2000
FIRST_ISSUE = 4_100_000_000


def _serve(port: int) -> None:
    uvicorn.run(make_app(SentryState()), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def fake_process() -> Iterator[tuple[str, int]]:
    """The fake in a child process; yields its base URL and pid, and stops it afterwards."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts it slowly
        while True:
            try:
                httpx.get(f"{url}/_fake/requests", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the Sentry fake did not start") from None
                time.sleep(0.1)
        assert process.pid is not None
        yield url, process.pid
    finally:
        process.terminate()
        process.join(timeout=5)


def issue_ids(n_records: int, issues: int, seed: int = 7) -> list[str]:
    """An issue for each event: ``issues`` issues, the k-th drawn with weight 1/k."""
    rng = random.Random(seed)
    ranks = rng.choices(range(issues), weights=[1 / (k + 1) for k in range(issues)], k=n_records)
    return [str(FIRST_ISSUE + rank) for rank in ranks]


def _kind(path: str) -> str:
    if "/issues/" in path:
        return "issue events"
    if path.endswith(f"/organizations/{ORG}/events/"):
        return "discover"
    if f"/projects/{ORG}/{PROJECT}/events/" in path:
        return "event detail"
    return "other"


async def bench(n_records: int = 20000, issues: int = 10) -> dict[str, Any]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    groups = issue_ids(n_records, issues)
    events = [
        sentry_event(f"s{i % 500}.Tok{i}", start + timedelta(milliseconds=10 * i), group_id=groups[i])
        for i in range(n_records)
    ]
    with fake_process() as (url, pid), httpx.Client(base_url=url, timeout=60) as client:
        for first in range(0, n_records, SEED_CHUNK):
            client.post("/_fake/records", json=events[first : first + SEED_CHUNK]).raise_for_status()
        settings = SentrySettings(token=USER_TOKEN, organization_slug=ORG, project_slug=PROJECT, base_url=url)
        query = Query(start=start, end=start + timedelta(days=1), page_size=MAX_PAGE)
        async with SentryProvider(settings, ProviderOptions(request_timeout=60)) as provider:
            fake_cpu, client_cpu = process_cpu_seconds(pid), time.process_time()
            result: dict[str, Any] = dict(await time_search(provider, query, n_records))
            client_cpu, fake_cpu = time.process_time() - client_cpu, process_cpu_seconds(pid) - fake_cpu
        requests = Counter(_kind(request["path"]) for request in client.get("/_fake/requests").json())
    result["issues"] = issues
    result["requests"] = dict(requests)
    result["client_cpu_ms_per_record"] = round(1000 * client_cpu / n_records, 3)
    result["fake_cpu_ms_per_record"] = round(1000 * fake_cpu / n_records, 3)
    return result


def run_before(path: Path, records: int, issues: int) -> dict[str, Any]:
    """This benchmark, run with the code of ``path`` (its ``src`` first on the path)."""
    env = {**os.environ, "PYTHONPATH": f"{path / 'src'}{os.pathsep}{Path.cwd()}"}
    command = [sys.executable, "-m", "bench.providers_sentry", "--json"]
    command += ["--records", str(records), "--issues", str(issues)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--issues", default="1,10,100", help="comma list: one measurement each")
    parser.add_argument("--before", help="a git revision to measure first, in its own worktree")
    parser.add_argument("--json", action="store_true", help="one JSON line per measurement, nothing else")
    args = parser.parse_args()
    counts = [int(value) for value in args.issues.split(",")]
    if args.json:
        for issues in counts:
            print(json.dumps(asyncio.run(bench(args.records, issues))), flush=True)
        return
    print(f"load average before: {os.getloadavg()}", flush=True)
    for issues in counts:
        rows: list[tuple[str, dict[str, Any]]] = []
        if args.before:
            with before_worktree(args.before) as path:
                rows.append((f"before ({args.before})", run_before(path, args.records, issues)))
            print(f"{issues} issues, {rows[-1][0]}: {json.dumps(rows[-1][1])}", flush=True)
        rows.append(("after", asyncio.run(bench(args.records, issues))))
        print(f"{issues} issues, after: {json.dumps(rows[-1][1])}", flush=True)
        if len(rows) == 2:
            ratio = rows[1][1]["records_per_s"] / rows[0][1]["records_per_s"]
            print(f"{issues} issues: after / before records/s: {ratio:.2f}x", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
