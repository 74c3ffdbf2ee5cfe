"""Benchmark: what the triggers on ``backend_events`` cost an insert, in CPU seconds.

Run: ``python -m bench.rollup_writes --backend sqlite|postgres [--events 20000] [--page 1000]
[--rounds 3] [--before REV]``. A scratch database (SQLite file, PostgreSQL schema) is migrated,
gets 2,000 sessions over 30 days, then ``--events`` events in pages of ``--page`` through
``store.events.insert_events``, one transaction per page (as the importer does): error groups of
Zipf-like frequency, each event within two hours of its session's start. Printed: CPU seconds of
this process and, on PostgreSQL, of its server backend (from ``/proc``), so the figures hold on
a loaded host. ``--before REV`` measures REV's code the same way in a subprocess, round by round
(before, then after), so both see about the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.support import before_worktree, process_cpu_seconds, scratch_database, synthetic_event
from replaylink.ids import new_session_id
from replaylink.store import accounts, migrate
from replaylink.store.db import make_engine, make_sessionmaker, transaction
from replaylink.store.events import EventRow, insert_events
from replaylink.store.models import RecordedSession

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GROUPS = 2000
SESSIONS = 2000


def _pages(
    project_id: int, sessions: list[tuple[int, datetime]], events: int, page: int
) -> list[list[EventRow]]:
    rng = random.Random(3)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(GROUPS)]
    groups = rng.choices(range(GROUPS), weights, k=events)
    now = datetime.now(UTC)
    rows = []
    for n, group in enumerate(groups):
        session_id, started = rng.choice(sessions)
        rows.append(
            synthetic_event(
                project_id=project_id,
                session_id=session_id,
                record_id=f"r{n}",
                group=group,
                timestamp=started + timedelta(seconds=rng.uniform(-5, 7200)),
                imported_at=now,
                provider=rng.choice(["datadog", "sentry", "cloudwatch"]),
            )
        )
    return [rows[i : i + page] for i in range(0, len(rows), page)]


def measure(url: str, events: int, page: int) -> dict[str, float]:
    """Insert ``events`` into a fresh database at ``url``; CPU seconds of the inserts."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    rng = random.Random(2)
    now = datetime.now(UTC)
    with transaction(sessions) as db:
        project_id = accounts.create_project(db, "bench").id
        started = [now - timedelta(seconds=rng.uniform(0, 30 * 86400)) for _ in range(SESSIONS)]
        rows = [
            RecordedSession(
                id=new_session_id(t.timestamp()),
                project_id=project_id,
                started_at=t,
                last_seen_at=t + timedelta(minutes=5),
                token_expires_at=t + timedelta(hours=2),
                page_url="https://shop.example/",
                user_agent="bench",
            )
            for t in started
        ]
        db.add_all(rows)
        pairs = [(row.id, row.started_at) for row in rows]
    pages = _pages(project_id, pairs, events, page)
    with engine.connect() as conn:  # the pool's one connection: its backend does the inserts
        backend = (
            conn.scalar(text("SELECT pg_backend_pid()")) if engine.dialect.name == "postgresql" else None
        )
    server_before = process_cpu_seconds(backend) if backend else 0.0
    began = process_cpu_seconds(os.getpid())
    for batch in pages:
        with transaction(sessions) as db:
            insert_events(db, batch)
    own = process_cpu_seconds(os.getpid()) - began
    server = (process_cpu_seconds(backend) - server_before) if backend else 0.0
    engine.dispose()
    return {"process_s": round(own, 2), "server_s": round(server, 2), "total_s": round(own + server, 2)}


def _one_run(args: argparse.Namespace) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="rl-bench-writes-") as tmp,
        scratch_database(args.backend, Path(tmp), args.pg_url, "rl_bench_writes") as url,
    ):
        return measure(url, args.events, args.page)


def _before(path: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{path / 'src'}{os.pathsep}{Path.cwd()}"}
    command = [
        sys.executable,
        "-m",
        "bench.rollup_writes",
        "--json",
        "--rounds",
        "1",
        "--backend",
        args.backend,
    ]
    command += ["--events", str(args.events), "--page", str(args.page), "--pg-url", args.pg_url]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="a git revision to measure too, round by round")
    parser.add_argument("--json", action="store_true", help="one JSON line (one round), nothing else")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(_one_run(args)))
        return
    results: list[dict[str, Any]] = []
    loads = []
    with (
        before_worktree(args.before, "rl-bench-writes-before-") if args.before else nullcontext(None) as path
    ):
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            before = _before(path, args) if path is not None else None
            after = _one_run(args)
            results.append({"before": before, "after": after})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(
        f"{args.backend}, {args.events} events in pages of {args.page}; load average "
        f"{min(loads):.1f}-{max(loads):.1f}; before: {args.before or '-'} (CPU seconds)"
    )
    for key in ("process_s", "server_s", "total_s"):
        afters = [r["after"][key] for r in results]
        befores = [r["before"][key] for r in results if r["before"]]
        print(f"{key:10} before {befores or '-'} after {afters}")


if __name__ == "__main__":
    main()
