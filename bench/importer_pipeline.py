"""Import pipeline throughput on the records providers really return.

Run: ``python -m bench.importer_pipeline [--backends sqlite,postgres] [--seconds 10]
[--before REV [--rounds N]] [--mix realistic|sparse] [--times poll|spread] [--count-once]
[--pg-url URL]``. SQLite in ``/tmp/replaylink-bench-pipeline``, PostgreSQL in schema
``rl_bench_pipeline`` of ``--pg-url``.

Every record carries a token (provider queries only return records with the marker) of one of
2,000 existing sessions; a page of 1,000 holds 1, 3, 10, 50, 200 or 1,000 distinct sessions (from
one user's burst to one session per record); a third of the records each use the seed snippet's
``[openReplaySessionToken=...]`` prefix, an exception (type, stack, the SDK's PEP 678 note in the
message) and a JSON attribute (``openReplaySessionToken`` in the record's attributes, as a JSON
formatter or structlog emits it). ``--mix sparse`` is round 1's mix (one record in ten tokened).
Timestamps are a poll's (``--times poll``): pages advance through the hour as a service logging
500 errors a second would fill them, each page's records from the last poll interval but for 5 %
the provider indexed late (up to the 5-minute overlap); ``--times spread`` (rounds 1-3) spreads
every page uniformly over the same hour, so that every page lands all over every time index.

Each page goes through ``store_records`` (extraction, verification, session windows, insert) in
one transaction, one thread, for at least ``--seconds`` after a warm-up; only those calls are
timed. The floor, measured on the same pages in the same run, is parsing and extraction alone:
``record_tokens`` and ``event_fields`` per record (what any importer must do), no verification
and no database. CPU seconds are the importer process's (``time.process_time``) and, for
PostgreSQL, its server backend's (``/proc``). ``--before REV`` runs the same measurement on
``git worktree`` of REV in a subprocess first, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.importer import (
    PAGE,
    PG_URL,
    _dd_settings,
    context_of,
    fresh_runtime,
    new_integration,
    new_project,
    new_sessions,
)
from bench.support import before_worktree, process_cpu_seconds
from replaylink.importer.extract import record_tokens
from replaylink.importer.poll import store_records
from replaylink.providers.base import Record, StackFrame
from replaylink.records import event_fields
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent

DATA_DIR = Path("/tmp/replaylink-bench-pipeline")
PG_SCHEMA = "rl_bench_pipeline"
"""Its own SQLite directory and PostgreSQL schema: ``bench.importer``'s may be in use by its other parts."""
SESSIONS = 2000
SESSIONS_PER_PAGE = (1, 3, 10, 50, 200, 1000)
PAGE_SECONDS = 2
"""Pages follow a service logging 500 errors/s: page n's records end 2n s into the hour."""
POLL_INTERVAL, OVERLAP, LATE_SHARE = 15, 300, 0.05
"""A poll's new records are from its last interval (the default 15 s), but for the few (5 %) the
provider indexed late, which the overlap (5 minutes) re-reads."""
FRAMES = [
    StackFrame(filename="app/payments.py", function="charge", lineno=88, in_app=True),
    StackFrame(filename="app/orders.py", function="checkout", lineno=214, in_app=True),
    StackFrame(filename="app/views.py", function="post_checkout", lineno=41, in_app=True),
]


def page_records(
    tokens: list[str], number: int, now: datetime, rng: random.Random, mix: str, times: str = "poll"
) -> list[Record]:
    """Page ``number`` (1,000 records with ids unique to it) of the chosen mix, timed as a poll
    returns them (``times`` "poll") or uniformly over the hour before ``now`` ("spread")."""
    sessions = rng.sample(tokens, rng.choice(SESSIONS_PER_PAGE))
    page = []
    for n in range(number * PAGE, (number + 1) * PAGE):
        token = sessions[rng.randrange(len(sessions))]
        if times == "spread":
            at = now - timedelta(seconds=rng.uniform(0, 3600))
        else:
            late = rng.random() < LATE_SHARE
            age = rng.uniform(POLL_INTERVAL, OVERLAP) if late else rng.uniform(0, POLL_INTERVAL)
            at = now - timedelta(hours=1) + timedelta(seconds=number * PAGE_SECONDS - age)
        attributes: dict[str, Any] = {
            "http": {"method": "POST", "status_code": 500, "url_details": {"path": f"/cart/{n % 97}"}},
            "usr": {"id": f"user-{rng.randrange(20000)}"},
            "logger": {"name": "app.payments", "thread_name": "MainThread"},
            "duration": rng.randrange(10**6, 10**9),
        }
        stack = exception_type = None
        form = n % 3 if mix == "realistic" else (n % 2 if n % 10 == 0 else -1)
        if form == 0:
            message = f"[openReplaySessionToken={token}] payment failed for order {n}: card declined"
        elif form == 1:
            exception_type = "ValueError"
            stack = FRAMES
            message = f"ValueError: bad amount {n} for order {n * 7}\nopenReplaySessionToken={token}"
        elif form == 2:
            message = f"payment provider refused order {n}: insufficient funds"
            attributes["openReplaySessionToken"] = token
        else:
            message = f"upstream error calling payments: 502 Bad Gateway (request {rng.getrandbits(64):x})"
        page.append(
            Record(
                provider_id=f"AQAAAY{n:012d}",
                timestamp=at,
                message=message,
                level="error",
                service="checkout",
                host=f"web-{n % 12}",
                logger="app.payments",
                attributes=attributes,
                link=f"https://app.datadoghq.com/logs?event=AQAAAY{n:012d}",
                stack=stack,
                exception_type=exception_type,
            )
        )
    return page


def floor_seconds(pages: list[list[Record]]) -> float:
    """CPU seconds to parse and extract: tokens and event fields of every record, nothing else."""
    began = time.process_time()
    for page in pages:
        for record in page:
            record_tokens(record)
            event_fields(record, "datadog")
    return time.process_time() - began


def run_backend(
    backend: str, seconds: float, mix: str, pg_url: str, count_once: bool = False, times: str = "poll"
) -> dict[str, Any]:
    rt = fresh_runtime(backend, pg_url, data_dir=DATA_DIR, schema=PG_SCHEMA)
    try:
        rng = random.Random(7)
        now = datetime.now(UTC)
        project_id = new_project(rt)
        tokens = [token for _, token in new_sessions(rt, project_id, SESSIONS, now - timedelta(hours=2))]
        integration_id = new_integration(rt, project_id, _dd_settings("http://127.0.0.1:9"), "bench", now)
        ctx = context_of(rt)
        servers: set[int] = set()
        numbers = iter(range(10**6))

        def store(page: list[Record]) -> int:
            with rt.sessions() as db, db.begin():
                _, new = store_records(
                    db,
                    ctx,
                    project_id=project_id,
                    integration_id=integration_id,
                    provider="datadog",
                    created_at=now - timedelta(days=1),  # steady polls: records after its creation
                    records=page,
                    now=now,
                    **({"count_once": True} if count_once else {}),
                )
                if backend == "postgres":
                    servers.add(int(db.scalar(text("SELECT pg_backend_pid()")) or 0))
                return new

        for _ in range(20):  # warm-up: caches, prepared statements, the first B-tree pages
            store(page_records(tokens, next(numbers), now, rng, mix, times))
        server_before = {pid: process_cpu_seconds(pid) for pid in servers}
        load = os.getloadavg()[0]
        wall = cpu = 0.0
        imported = records = 0
        pages: list[list[Record]] = []
        while wall < seconds:
            page = page_records(tokens, next(numbers), now, rng, mix, times)
            began_wall, began_cpu = time.perf_counter(), time.process_time()
            imported += store(page)
            wall += time.perf_counter() - began_wall
            cpu += time.process_time() - began_cpu
            records += len(page)
            if len(pages) < 100:
                pages.append(page)
        server_cpu = sum(process_cpu_seconds(pid) - server_before.get(pid, 0.0) for pid in servers)
        floor_records = sum(len(page) for page in pages)
        floor_rate = floor_records / floor_seconds(pages)
        with transaction(rt.sessions) as db:
            stored = db.scalar(select(func.count()).select_from(BackendEvent))
    finally:
        rt.close()
    per_cpu = records / cpu
    return {
        "backend": backend,
        "mix": mix,
        "times": times,
        "count_once": count_once,
        "load_average": round(load, 1),
        "records": records,
        "events_imported": imported,
        "events_stored": stored,
        "seconds": round(wall, 2),
        "records_per_s": round(records / wall),
        "importer_cpu_s": round(cpu, 2),
        "records_per_cpu_s": round(per_cpu),
        "server_cpu_s": round(server_cpu, 2),
        "records_per_cpu_s_with_server": round(records / (cpu + server_cpu)),
        "floor_records_per_cpu_s": round(floor_rate),
        "ratio_to_floor": round(per_cpu / floor_rate, 3),
    }


def run_before(path: Path, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """This module, run with the code of ``path`` (its ``src`` first on the path)."""
    env = {**os.environ, "PYTHONPATH": f"{path / 'src'}{os.pathsep}{Path.cwd()}"}
    command = [sys.executable, "-m", "bench.importer_pipeline", "--json", "--backends", backend]
    command += ["--seconds", str(args.seconds), "--mix", args.mix, "--times", args.times]
    command += ["--pg-url", args.pg_url]
    command += ["--count-once"] if args.count_once else []
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per backend")
    parser.add_argument("--mix", choices=["realistic", "sparse"], default="realistic")
    parser.add_argument(
        "--times",
        choices=["poll", "spread"],
        default="poll",
        help="record timestamps as a poll returns them (default) or uniform over an hour (round 3)",
    )
    parser.add_argument("--before", help="a git revision to measure first, in its own worktree")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--json", action="store_true", help="one JSON line per backend, nothing else")
    parser.add_argument(
        "--count-once",
        action="store_true",
        help="as the poller calls it: also remember each record outcome (counted_records) to count it once",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --before: alternate before and after this many times and print the median paired ratio",
    )
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if args.json:
            row = run_backend(backend, args.seconds, args.mix, args.pg_url, args.count_once, args.times)
            print(json.dumps(row), flush=True)
            continue
        if not args.before:
            after = run_backend(backend, args.seconds, args.mix, args.pg_url, args.count_once, args.times)
            print(f"{backend} after: {json.dumps(after)}", flush=True)
            continue
        ratios: dict[str, list[float]] = {key: [] for key in RATIOS}
        with before_worktree(args.before) as path:
            for round_ in range(1, max(1, args.rounds) + 1):
                before = run_before(path, backend, args)
                after = run_backend(backend, args.seconds, args.mix, args.pg_url, args.count_once, args.times)
                for label, row in ((f"before ({args.before})", before), ("after", after)):
                    print(f"{backend} round {round_} {label}: {json.dumps(row)}", flush=True)
                for key, values in ratios.items():
                    values.append(after[key] / before[key])
        for key, values in ratios.items():
            paired = ", ".join(f"{value:.2f}" for value in values)
            print(
                f"{backend}: after / before, {RATIOS[key]}: median {statistics.median(values):.2f}x "
                f"(rounds: {paired})",
                flush=True,
            )


RATIOS = {
    "records_per_cpu_s": "records per importer CPU-s",
    "records_per_cpu_s_with_server": "records per CPU-s with the server's",
    "floor_records_per_cpu_s": "floor records per CPU-s",
}
"""The paired ratios ``--rounds`` prints: the machine's speed varies between runs, so each after
is compared with the before measured just ahead of it."""

if __name__ == "__main__":
    main()
