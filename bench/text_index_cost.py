"""Benchmark: what the text-search index (migration 0005) costs the import path per 20,000 events.

Run: ``python -m bench.text_index_cost [--backends sqlite,postgres] [--events 20000] [--rounds 2]``.
Each round inserts the same events through ``store.events.insert_events`` (pages of 1,000, one
transaction each) into a fresh database with the index and into one without it (FTS5 triggers
and table dropped on SQLite, the GIN index on PostgreSQL), in turn, so both see about the same
machine load. CPU seconds are this process's plus, on PostgreSQL, the server backend's (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.api import PG_URL
from bench.support import process_cpu_seconds, scratch_database, synthetic_event
from replaylink.store import accounts, migrate
from replaylink.store.db import make_engine, make_sessionmaker, transaction
from replaylink.store.events import EventRow, insert_events
from replaylink.store.text_search import PG_TEXT_INDEX

PAGE = 1000
SQLITE_DROP = [
    "DROP TRIGGER backend_events_fts_insert",
    "DROP TRIGGER backend_events_fts_delete",
    "DROP TRIGGER backend_events_fts_update",
    "DROP TABLE backend_events_fts",
]


def event_rows(project_id: int, n: int, rng: random.Random) -> list[EventRow]:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        group = rng.randrange(2000)
        title = f"Error{group % 50}: failure {group} in handler {group % 17}"
        rows.append(
            synthetic_event(
                project_id=project_id,
                session_id=1 + i % 200,
                record_id=f"r-{i}",
                group=group,
                timestamp=now - timedelta(seconds=i),
                imported_at=now,
                title=title,
                message=f"{title} request_id={rng.getrandbits(64):x} while processing the order; "
                "upstream said: connection reset by peer",
                exception_type=f"Error{group % 50}",
                logger="app.handlers",
            )
        )
    return rows


def one_run(backend: str, indexed: bool, n: int, pg_url: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="rl-bench-text-index-") as tmp,
        scratch_database(backend, Path(tmp), pg_url, "rl_bench_text_index") as url,
    ):
        engine = make_engine(url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            if not indexed:
                for statement in SQLITE_DROP if backend == "sqlite" else [f"DROP INDEX {PG_TEXT_INDEX}"]:
                    conn.execute(text(statement))
        sessions = make_sessionmaker(engine)
        with transaction(sessions) as db:
            project_id = accounts.create_project(db, "bench").id
        rows = event_rows(project_id, n, random.Random(7))
        with transaction(sessions) as db:
            server = db.scalar(text("SELECT pg_backend_pid()")) if backend == "postgres" else None
        cpu0 = process_cpu_seconds(os.getpid()) + (process_cpu_seconds(server) if server else 0.0)
        began = time.perf_counter()
        for start in range(0, n, PAGE):
            with transaction(sessions) as db:
                insert_events(db, rows[start : start + PAGE])
        wall = time.perf_counter() - began
        cpu = process_cpu_seconds(os.getpid()) + (process_cpu_seconds(server) if server else 0.0) - cpu0
        engine.dispose()
    return {
        "backend": backend,
        "text_index": indexed,
        "events": n,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    for backend in args.backends.split(","):
        for _ in range(args.rounds):
            for indexed in (True, False):
                print(json.dumps(one_run(backend, indexed, args.events, args.pg_url)), flush=True)


if __name__ == "__main__":
    main()
