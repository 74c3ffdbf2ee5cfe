"""Benchmark: p50/p99 latency of the session list, session detail and backend-error groups.

Run: ``python -m bench.api --backend sqlite --events 1000000`` or
``python -m bench.api --backend postgres --events 10000000``. Generated data: ``--sessions``
(default 100,000) over the last 30 days, half of them with backend errors; events per errored
session follow a Pareto tail (most have a few, a few "error storms" have thousands), over five
providers and 2,000 error groups of Zipf-like frequency. Requests go through the FastAPI app
in-process (routing, auth, validation, JSON), so figures include the API layer.

The data is kept (``--data-dir`` for SQLite, schema ``rl_bench_api`` on PostgreSQL) and reused
when its size matches, so a second run only measures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text

from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.ids import new_session_id
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import make_sessionmaker, transaction
from replaylink.store.models import BackendEvent, RecordedSession

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "rl_bench_api"
PROVIDERS = ["datadog", "sentry", "sumologic", "cloudwatch", "elasticsearch"]
PROVIDER_WEIGHTS = [40, 30, 10, 10, 10]
LEVELS = ["error", "error", "error", "critical", "warning"]
GROUPS = 2000
DAYS = 30
EVENT_COLUMNS = [
    "project_id",
    "session_id",
    "provider",
    "provider_record_id",
    "timestamp",
    "level",
    "title",
    "message",
    "exception_type",
    "service",
    "host",
    "logger",
    "stack",
    "link",
    "attributes",
    "fingerprint",
    "imported_at",
]
SESSION_COLUMNS = [
    "id",
    "project_id",
    "started_at",
    "last_seen_at",
    "token_expires_at",
    "page_url",
    "user_agent",
    "user_id",
]


# --------------------------------------------------------------------------- data


def session_rows(project_id: int, count: int, now: datetime, rng: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for _ in range(count):
        started = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
        seen = started + timedelta(seconds=min(rng.lognormvariate(5.7, 1.0), 7000))
        rows.append(
            (
                new_session_id(started.timestamp()),
                project_id,
                started,
                seen,
                started + timedelta(hours=2),
                f"https://shop.example/{rng.choice(['cart', 'checkout', 'search', 'product/42'])}",
                "Mozilla/5.0 (bench)",
                f"user-{rng.randrange(20000)}",
            )
        )
    return rows


def events_per_session(sessions: int, events: int, rng: random.Random) -> list[int]:
    """Half the sessions get no events; the rest share ``events`` along a Pareto tail."""
    weights = [rng.paretovariate(1.5) if rng.random() < 0.5 else 0.0 for _ in range(sessions)]
    total = sum(weights)
    counts = [int(w / total * events) for w in weights]
    short = events - sum(counts)
    errored = [i for i, w in enumerate(weights) if w]
    for i in rng.choices(errored, k=short):
        counts[i] += 1
    return counts


def event_rows(
    project_id: int, sessions: list[tuple[Any, ...]], counts: list[int], now: datetime, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    group_weights = [1 / (rank + 1) ** 1.1 for rank in range(GROUPS)]
    for session, count in zip(sessions, counts, strict=True):
        if not count:
            continue
        session_id, started, seen = session[0], session[2], session[3]
        span = max((seen - started).total_seconds(), 1.0) + 60
        groups = rng.choices(range(GROUPS), group_weights, k=count)
        providers = rng.choices(PROVIDERS, PROVIDER_WEIGHTS, k=count)
        for n, (group, provider) in enumerate(zip(groups, providers, strict=True)):
            title = f"Error{group % 50}: failure {group} in handler {group % 17}"
            yield (
                project_id,
                session_id,
                provider,
                f"{session_id:x}-{n}",
                started + timedelta(seconds=rng.uniform(-5, span)),
                rng.choice(LEVELS),
                title,
                f"{title} [openReplaySessionToken=1.x.y.z.sig] request_id={rng.getrandbits(64):x} "
                + "while processing the order; upstream said: connection reset by peer",
                f"Error{group % 50}",
                rng.choice(["api", "checkout", "payments", "search"]),
                f"web-{rng.randrange(12)}",
                "app.handlers",
                json.dumps([{"filename": "app/handlers.py", "function": "handle", "lineno": group}])
                if n % 4 == 0
                else None,
                None,
                json.dumps({"http.status_code": 500, "region": "eu-west-1"}),
                f"{group:032x}",
                now,
            )


def generate(engine: Engine, n_sessions: int, n_events: int, seed: int = 7) -> int:
    """Fill an empty schema; returns the project id."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with transaction(make_sessionmaker(engine)) as db:
        project_id = accounts.create_project(db, "bench").id
        accounts.create_project(db, "other")
    sessions = session_rows(project_id, n_sessions, now, rng)
    counts = events_per_session(n_sessions, n_events, rng)
    rows = event_rows(project_id, sessions, counts, now, rng)
    if engine.dialect.name == "postgresql":
        _copy_postgres(engine, sessions, rows)
    else:
        _insert_sqlite(engine, sessions, rows)
    return project_id


def _insert(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _insert_sqlite(engine: Engine, sessions: list[tuple[Any, ...]], rows: Iterator[tuple[Any, ...]]) -> None:
    def naive(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v for v in row)

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("BEGIN")
        cursor.executemany(_insert("sessions", SESSION_COLUMNS), [naive(s) for s in sessions])
        statement = _insert("backend_events", EVENT_COLUMNS)
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(naive(row))
            if len(batch) == 50_000:
                cursor.executemany(statement, batch)
                batch.clear()
        cursor.executemany(statement, batch)
        cursor.execute("COMMIT")
        cursor.execute("ANALYZE")
    finally:
        raw.close()


def _copy_postgres(engine: Engine, sessions: list[tuple[Any, ...]], rows: Iterator[tuple[Any, ...]]) -> None:
    """COPY without the secondary indexes, then build them (much faster than indexed inserts)."""
    table = BackendEvent.__table__
    unique = "uq_backend_events_integration_id"
    with engine.begin() as conn:
        for index in table.indexes:  # type: ignore[attr-defined]
            index.drop(conn)
        conn.execute(text(f"ALTER TABLE backend_events DROP CONSTRAINT {unique}"))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY sessions ({', '.join(SESSION_COLUMNS)}) FROM STDIN") as copy:
            for row in sessions:
                copy.write_row(row)
        with cursor.copy(f"COPY backend_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(
            text(
                f"ALTER TABLE backend_events ADD CONSTRAINT {unique} "
                "UNIQUE (integration_id, provider_record_id, session_id)"
            )
        )
        for index in table.indexes:  # type: ignore[attr-defined]
            index.create(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE sessions"))
        conn.execute(text("VACUUM ANALYZE backend_events"))


# --------------------------------------------------------------------------- measuring


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "n": len(ordered),
    }


def measure(call: Callable[[], Any], n: int) -> dict[str, float]:
    call()  # warm up
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return percentiles(samples)


def run(settings: Settings, n_sessions: int, n_events: int, requests: int) -> dict[str, Any]:
    rt = Runtime(settings)
    engine = rt.engine
    migrate.upgrade(engine)
    generated_s = None
    with transaction(rt.sessions) as db:
        stored = db.scalar(select(func.count()).select_from(BackendEvent)) or 0
    if stored and stored != n_events:
        raise SystemExit(f"{stored} events are stored, not {n_events}; run again with --fresh")
    if not stored:
        began = time.perf_counter()
        generate(engine, n_sessions, n_events)
        generated_s = round(time.perf_counter() - began, 1)
    with transaction(rt.sessions) as db:
        project_id = db.scalar(select(func.min(RecordedSession.project_id)))
        key = accounts.create_api_key(db, None, name="bench").key
        ids = list(db.scalars(select(BackendEvent.session_id).distinct().limit(50_000)))
        now = datetime.now(UTC)
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/v1/projects/{project_id}"
    day_ago = (now - timedelta(days=1)).isoformat()

    with TestClient(create_app(rt)) as client:

        def get(path: str, **params: Any) -> Callable[[], Any]:
            def call() -> Any:
                response = client.get(path, params=params, headers=headers)
                response.raise_for_status()
                return response.json()

            return call

        deep = get(f"{base}/sessions", limit=200)()["next_cursor"]
        figures = {
            "session_detail": measure(lambda: get(f"{base}/sessions/{rng.choice(ids)}")(), requests),
            "session_list": measure(get(f"{base}/sessions"), requests),
            "session_list_page_2": measure(get(f"{base}/sessions", cursor=deep), requests),
            "session_list_has_errors": measure(get(f"{base}/sessions", has_backend_errors="true"), requests),
            "session_list_provider": measure(get(f"{base}/sessions", provider="elasticsearch"), requests),
            "session_list_user": measure(
                lambda: get(f"{base}/sessions", user_id=f"user-{rng.randrange(20000)}")(), requests
            ),
            "session_list_q": measure(get(f"{base}/sessions", q="failure 1234 "), max(3, requests // 20)),
            "error_groups_24h": measure(
                get(f"{base}/backend-errors", **{"from": day_ago}), max(5, requests // 10)
            ),
            "error_groups_all": measure(get(f"{base}/backend-errors"), max(3, requests // 40)),
            "affected_sessions_common": measure(get(f"{base}/backend-errors/{7:032x}/sessions"), requests),
            "affected_sessions_rare": measure(get(f"{base}/backend-errors/{1999:032x}/sessions"), requests),
        }
    rt.close()
    return {
        "backend": engine.dialect.name,
        "sessions": n_sessions,
        "events": n_events,
        "generated_s": generated_s,
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/replaylink-bench-api"))
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--fresh", action="store_true", help="Drop stored bench data first.")
    args = parser.parse_args()
    data_dir: Path = args.data_dir / args.backend
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.backend == "sqlite":
        db = data_dir / f"bench-{args.events}.db"
        if args.fresh:
            for path in data_dir.glob(f"bench-{args.events}.db*"):
                path.unlink()
        url = f"sqlite:///{db}"
    else:
        admin = create_engine(args.pg_url)
        with admin.begin() as conn:
            if args.fresh:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"'))
        admin.dispose()
        url = f"{args.pg_url}?options=-csearch_path%3D{PG_SCHEMA}"
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        encryption_key="bench-encryption-key-0123456789",
    )
    print(json.dumps(run(settings, args.sessions, args.events, args.requests), indent=2))


if __name__ == "__main__":
    main()
