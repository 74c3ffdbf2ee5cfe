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
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text

from bench.support import before_worktree, process_cpu_seconds
from replaylink.api.app import create_app
from replaylink.api.params import DEFAULT_LIMIT
from replaylink.config import Settings
from replaylink.fingerprint import fingerprint
from replaylink.ids import new_session_id
from replaylink.runtime import Runtime
from replaylink.store import accounts, keyset, migrate
from replaylink.store.db import make_sessionmaker, transaction
from replaylink.store.models import BackendEvent, Base, RecordedSession
from replaylink.store.sessions_query import SESSIONS_CURSOR

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "rl_bench_api"
APPLICATION_NAME = f"rl-bench-api-{os.getpid()}"
"""This process's PostgreSQL connections: their server CPU is counted with the process's."""
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
    # As the importer groups them: a group is one provider's, its fingerprint the hash of that
    # provider, the exception type and the title (replaylink.fingerprint).
    titles = [f"Error{group % 50}: failure {group} in handler {group % 17}" for group in range(GROUPS)]
    providers = rng.choices(PROVIDERS, PROVIDER_WEIGHTS, k=GROUPS)
    fingerprints = [
        fingerprint(provider, f"Error{group % 50}", title)
        for group, (provider, title) in enumerate(zip(providers, titles, strict=True))
    ]
    for session, count in zip(sessions, counts, strict=True):
        if not count:
            continue
        session_id, started, seen = session[0], session[2], session[3]
        span = max((seen - started).total_seconds(), 1.0) + 60
        for n, group in enumerate(rng.choices(range(GROUPS), group_weights, k=count)):
            provider, title = providers[group], titles[group]
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
                fingerprints[group],
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
        # As SQLAlchemy writes them on SQLite: always with microseconds (store.types.driver_processor).
        return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)

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
        # Every table: the rollups the triggers filled during the COPY too (their migrations
        # analysed them empty), or the planner reads them as empty.
        for name in Base.metadata.tables:
            conn.execute(text(f'VACUUM ANALYZE "{name}"'))


# --------------------------------------------------------------------------- measuring

ROWS = [
    "session_detail",
    "session_list",
    "session_list_page_2",
    "session_list_has_errors",
    "session_list_provider",
    "session_list_user",
    "session_list_q",
    "session_list_q_full",
    "error_groups_q",
    "error_groups_24h",
    "error_groups_window",
    "error_groups_all",
    "error_groups_provider",
    "error_groups_provider_24h",
    "affected_sessions_common",
    "affected_sessions_rare",
]
Request = tuple[str, dict[str, Any]]
"""A path under the project's API prefix and its query parameters."""


def percentiles(samples: list[float], cpu: list[float] | None = None) -> dict[str, float | None]:
    """p50 from any sample (None without: ``--requests 0`` only generates the data); p99 only from
    at least 100 samples (None below); with ``cpu`` (CPU seconds per sample of this process and of
    its PostgreSQL backends) its p50 and p99 too."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "n": 0}
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if len(ordered) >= 100 else None
    out: dict[str, float | None] = {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": None if p99 is None else round(p99, 2),
        "n": len(ordered),
    }
    if cpu:
        figures = percentiles(cpu)
        out |= {"cpu_p50_ms": figures["p50_ms"], "cpu_p99_ms": figures["p99_ms"]}
    return out


def cases(
    db: Any, project_id: int, now: datetime, rng: random.Random
) -> dict[str, Callable[[random.Random], Request]]:
    """What each benchmark row requests; each sample draws its own parameters (sessions, cursors,
    groups, words, windows), from a seeded generator so that every run asks the same sequence."""
    session_ids = list(db.scalars(select(BackendEvent.session_id).distinct().limit(50_000)))
    positions = list(db.execute(select(RecordedSession.started_at, RecordedSession.id).limit(50_000)))
    # The rollup of migration 0008 (a table for this module even when --before code has no model of it).
    groups = list(
        db.scalars(
            text("SELECT fingerprint FROM error_group_totals WHERE project_id = :p ORDER BY events DESC"),
            {"p": project_id},
        )
    )
    common, rare = groups[:20], groups[len(groups) // 2 :]

    def moment(r: random.Random) -> str:
        return (now - timedelta(seconds=r.uniform(0, DAYS * 86400))).isoformat()

    def cursor(r: random.Random) -> str:
        started_at, session_id = r.choice(positions)
        return keyset.encode(SESSIONS_CURSOR, started_at, session_id)

    def window(r: random.Random, longest_s: float) -> dict[str, str]:
        length = timedelta(seconds=r.uniform(3600, longest_s))
        end = now - timedelta(seconds=r.uniform(0, DAYS * 86400 - length.total_seconds()))
        return {"from": (end - length).isoformat(), "to": end.isoformat()}

    def day(r: random.Random) -> dict[str, str]:
        end = now - timedelta(seconds=r.uniform(0, (DAYS - 1) * 86400))
        return {"from": (end - timedelta(days=1)).isoformat(), "to": end.isoformat()}

    return {
        "session_detail": lambda r: (f"/sessions/{r.choice(session_ids)}", {}),
        "session_list": lambda r: ("/sessions", {"limit": r.choice([20, 50, 100])}),
        "session_list_page_2": lambda r: ("/sessions", {"cursor": cursor(r)}),
        "session_list_has_errors": lambda r: ("/sessions", {"has_backend_errors": "true", "to": moment(r)}),
        "session_list_provider": lambda r: ("/sessions", {"provider": r.choice(PROVIDERS), "to": moment(r)}),
        "session_list_user": lambda r: ("/sessions", {"user_id": f"user-{r.randrange(20000)}"}),
        "session_list_q": lambda r: ("/sessions", {"q": search_terms(r)}),
        "session_list_q_full": lambda r: ("/sessions", {"q": search_terms(r)}),
        "error_groups_q": lambda r: ("/backend-errors", {"q": search_terms(r)}),
        "error_groups_24h": lambda r: ("/backend-errors", day(r)),
        "error_groups_window": lambda r: ("/backend-errors", window(r, 7 * 86400)),
        "error_groups_all": lambda r: ("/backend-errors", {"limit": r.choice([20, 50, 100])}),
        "error_groups_provider": lambda r: ("/backend-errors", {"provider": r.choice(PROVIDERS)}),
        "error_groups_provider_24h": lambda r: (
            "/backend-errors",
            {"provider": r.choice(PROVIDERS), **day(r)},
        ),
        "affected_sessions_common": lambda r: (f"/backend-errors/{r.choice(common)}/sessions", {}),
        "affected_sessions_rare": lambda r: (f"/backend-errors/{r.choice(rare)}/sessions", {}),
    }


SEARCHES: list[Callable[[random.Random], str]] = [
    lambda r: f"Error{r.randrange(50)}",  # an exception type (2 % of events each)
    lambda r: f"failure {r.randrange(GROUPS)}",  # a title's words: one group (rare to 17 %)
    lambda r: r.choice(["connection reset", "upstream said", "peer", "processing the order", "handler"]),
    lambda r: r.choice(["conn", "upstr", "proc", "Err", "fail", "hand", "Error1", "req"]),  # typed prefixes
    lambda r: f"{r.getrandbits(16):04x}",  # the start of a request id (about 15 events per 1M)
    lambda r: r.choice(["timeout", "NullPointerException", "deadlock", "checkout", "ECONNREFUSED"]),  # none
    lambda r: f"Error{r.randrange(50)} handler {r.randrange(17)}",  # common words, rare together
]
"""What ``q`` asks, a kind drawn per sample: stored words common and rare, exception types,
prefixes, ids, words no event has, and common words that are rare together."""


def search_terms(r: random.Random) -> str:
    return r.choice(SEARCHES)(r)


FOLLOWED = {"session_list_q_full": "session_list_q"}
"""Rows that ask what another row asks (same seed), and follow a session list's ``next_cursor``
while an answer stopped at its search budget (``searched_to``) before its page was full: the
time to a full page (or to the end of the list), where the other row times the first answer."""


def measure(
    client: TestClient,
    engine: Engine,
    base: str,
    headers: dict[str, str],
    make: Callable[[random.Random], Request],
    n: int,
    seed: int,
    *,
    follow: bool = False,
) -> dict[str, float | None]:
    rng = random.Random(seed)
    samples, cpu = [], []
    backends: list[int] = []
    partial = 0
    for i in range(n + 1):
        path, params = make(rng)
        params = {k: v for k, v in params.items() if v is not None}
        began, began_cpu = time.perf_counter(), _cpu_seconds(backends)
        response = client.get(base + path, params=params, headers=headers)
        response.raise_for_status()
        stopped = _stopped_short(response.json(), 0)
        short = stopped is not None
        while follow and stopped is not None:
            listed, cursor = stopped
            response = client.get(base + path, params={**params, "cursor": cursor}, headers=headers)
            response.raise_for_status()
            stopped = _stopped_short(response.json(), listed)
        elapsed, used = time.perf_counter() - began, _cpu_seconds(backends) - began_cpu
        if i:  # the first one warms up
            samples.append(elapsed)
            cpu.append(used)
            partial += short
        else:
            backends = server_backends(engine)
    return {**percentiles(samples, cpu), "partial": partial}


def _stopped_short(body: Any, listed: int) -> tuple[int, str] | None:
    """A session list answer that stopped at its search budget before ``DEFAULT_LIMIT`` sessions
    (with those listed before): the sessions listed so far and the cursor to go on; else None."""
    if not isinstance(body, dict) or not body.get("searched_to") or not body.get("next_cursor"):
        return None
    listed += len(body.get("sessions", []))
    return (listed, body["next_cursor"]) if listed < DEFAULT_LIMIT else None


def server_backends(engine: Engine) -> list[int]:
    """PostgreSQL: the process ids of this process's connections (by ``application_name``)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        query = text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND pid <> pg_backend_pid()"
        )
        return list(conn.scalars(query, {"name": APPLICATION_NAME}))


def _cpu_seconds(backends: list[int]) -> float:
    """This process's CPU and its PostgreSQL backends' (local server, from /proc)."""
    return time.process_time() + sum(process_cpu_seconds(pid) for pid in backends)


def run(
    settings: Settings,
    n_sessions: int,
    n_events: int,
    requests: int,
    *,
    only: list[str] | None,
    migrated: bool,
) -> dict[str, Any]:
    rt = Runtime(settings)
    engine = rt.engine
    if not migrated:
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
        project_id = cast(int, db.scalar(select(func.min(RecordedSession.project_id))))  # generated above
        key = accounts.create_api_key(db, None, name="bench").key
        now = datetime.now(UTC)
        wanted = cases(db, project_id, now, random.Random(1))
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/v1/projects/{project_id}"
    figures: dict[str, Any] = {}
    with TestClient(create_app(rt)) as client:
        for name in only if only is not None else ROWS:
            seed = ROWS.index(FOLLOWED.get(name, name))
            figures[name] = measure(
                client, engine, base, headers, wanted[name], requests, seed, follow=name in FOLLOWED
            )
    rt.close()
    return {
        "backend": engine.dialect.name,
        "sessions": n_sessions,
        "events": n_events,
        "generated_s": generated_s,
        **figures,
    }


def run_before(path: Path, args: argparse.Namespace, row: str) -> dict[str, Any]:
    """This module's measurement with the code of ``path`` (its ``src`` first on the path), on the
    same stored data (already migrated by this code, so not migrated again)."""
    env = {**os.environ, "PYTHONPATH": f"{path / 'src'}{os.pathsep}{Path.cwd()}"}
    command = [sys.executable, "-m", "bench.api", "--json", "--migrated", "--backend", args.backend]
    command += ["--events", str(args.events), "--sessions", str(args.sessions)]
    command += [
        "--requests",
        str(args.before_requests),
        "--data-dir",
        str(args.before_data_dir or args.data_dir),
        "--pg-url",
        args.before_pg_url or args.pg_url,
    ]
    command += ["--only", row]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def table(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """A text table: p50/p99 (samples) before and after, and after/before at p50; ``-`` where a
    side has no figure (not measured, or ``--requests 0``)."""
    lines = [
        f"{'request':28} {'before p50':>10} {'p99':>8} {'n':>4} "
        f"{'after p50':>10} {'p99':>8} {'n':>4} {'x p50':>7}"
    ]
    for name, figure in after.items():
        if not isinstance(figure, dict):
            continue
        old = (before or {}).get(name) or {}
        measured = old.get("p50_ms") and figure["p50_ms"]
        ratio = f"{old['p50_ms'] / figure['p50_ms']:.1f}" if measured else ""
        lines.append(
            f"{name:28} {_cell(old, 'p50_ms'):>10} {_cell(old, 'p99_ms'):>8} {_cell(old, 'n'):>4} "
            f"{_cell(figure, 'p50_ms'):>10} {_cell(figure, 'p99_ms'):>8} {_cell(figure, 'n'):>4} {ratio:>7}"
        )
        if "cpu_p50_ms" in figure:
            lines.append(
                f"{'  CPU (process + server)':28} {_cell(old, 'cpu_p50_ms'):>10} "
                f"{_cell(old, 'cpu_p99_ms'):>8} "
                f"{'':>4} {_cell(figure, 'cpu_p50_ms'):>10} {_cell(figure, 'cpu_p99_ms'):>8}"
            )
    return "\n".join(lines)


def _cell(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return "-" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="samples per row (p99 needs 100)")
    parser.add_argument("--only", help="comma-separated rows to measure (default: all)")
    parser.add_argument(
        "--before", help="a git revision to measure first on the same data, in its own worktree"
    )
    parser.add_argument("--before-requests", type=int, default=100)
    parser.add_argument(
        "--before-data-dir",
        type=Path,
        help="REV's own copy of the data (SQLite), at REV's schema: when this code's migrations "
        "re-key tables REV reads, REV's figures on this code's schema would not be REV's",
    )
    parser.add_argument("--before-pg-url", help="likewise for PostgreSQL (a copy of the database)")
    parser.add_argument("--migrated", action="store_true", help="do not migrate (the --before subprocess)")
    parser.add_argument("--json", action="store_true", help="one JSON line, nothing else")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/replaylink-bench-api"))
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--fresh", action="store_true", help="Drop stored bench data first.")
    args = parser.parse_args()
    data_dir: Path = args.data_dir / args.backend
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.backend == "sqlite":
        db = data_dir / f"bench-{args.events}.db"
        if args.fresh:
            for stale in data_dir.glob(f"bench-{args.events}.db*"):
                stale.unlink()
        url = f"sqlite:///{db}"
    else:
        admin = create_engine(args.pg_url)
        with admin.begin() as conn:
            if args.fresh:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"'))
        admin.dispose()
        url = f"{args.pg_url}?options=-csearch_path%3D{PG_SCHEMA}&application_name={APPLICATION_NAME}"
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        encryption_key="bench-encryption-key-0123456789",
    )
    only = args.only.split(",") if args.only else None
    if args.json:
        print(
            json.dumps(
                run(settings, args.sessions, args.events, args.requests, only=only, migrated=args.migrated)
            )
        )
        return
    # Migrate (and generate) first, so that the before run measures the same data.
    after_setup = run(settings, args.sessions, args.events, 0, only=[], migrated=False)
    rows = only or ROWS
    before: dict[str, Any] = {}
    after: dict[str, Any] = {"generated_s": after_setup["generated_s"]}
    loads = []
    with before_worktree(args.before, "rl-bench-api-before-") if args.before else nullcontext(None) as path:
        for name in rows:  # row by row, before then after, so both see about the same load
            loads.append(os.getloadavg()[0])
            if path is not None:
                before.update(run_before(path, args, name))
            after.update(run(settings, args.sessions, args.events, args.requests, only=[name], migrated=True))
            print(f"{name}: before {before.get(name)} after {after[name]}", file=sys.stderr, flush=True)
    print(f"load average {min(loads):.1f}-{max(loads):.1f}; before: {args.before or '-'}")
    print(json.dumps({"before": before or None, "after": after}))
    print(table(before or None, after))


if __name__ == "__main__":
    main()
