"""Importer benchmark: pipeline throughput, freshness, and scale with two workers.

Run: ``python -m bench.importer [--parts pipeline,freshness,scale] [--backends sqlite,postgres]``.

1. pipeline: provider pages already in memory (``Record`` objects, 10 % carrying valid tokens
   of existing sessions) through extraction, verification and the batch insert
   (``store_records`` inside one transaction per page of 1,000), one thread: records per second
   per core, on SQLite and PostgreSQL.
2. freshness: a real :class:`~replaylink.importer.worker.Importer` with the default settings
   (poll every 15 s, settle 10 s) against the Datadog fake; records become visible at random
   moments; the time until each one's event is in the database (watched every 100 ms).
3. scale: ``--integrations`` (1,000) Datadog integrations against a fake (its own process) that
   answers each search in 50 ms, two ``replaylink worker`` processes on PostgreSQL: polls per
   second, the lag (now minus checkpoint) per integration and the backlog over time, and CPU
   milliseconds per poll of the workers, of their PostgreSQL backends and of the fake.
   ``--before REV`` runs REV's workers first, for a before/after in one run.

PostgreSQL is the server at 127.0.0.1:5432 (database ``test``; schema ``rl_bench_importer`` for
pipeline and freshness, a scratch schema ``rl_bench_scale_*`` per scale run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

from bench.support import before_worktree, process_cpu_seconds, scratch_database
from replaylink.config import Settings, environment_without_settings
from replaylink.importer.correlate import Correlation, Verifier, attach, verify_records
from replaylink.importer.poll import PollContext, store_records
from replaylink.importer.worker import Importer
from replaylink.integrations.settings import context, split, validate
from replaylink.providers.base import Record
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent, Integration
from replaylink.store.sessions import start_session
from tests.peers import datadog_fake
from tests.peers.common import free_port

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "rl_bench_importer"
SECRET = "bench-secret-key-0123456789"
ENCRYPTION = "bench-encryption-key-0123456789"
DATA_DIR = Path("/tmp/replaylink-bench-importer")
PAGE = 1000


# --------------------------------------------------------------------------- setup


def fresh_runtime(
    backend: str,
    pg_url: str = PG_URL,
    *,
    data_dir: Path = DATA_DIR,
    schema: str = PG_SCHEMA,
    **overrides: Any,
) -> Runtime:
    """An empty, migrated database for one part of the benchmark (``data_dir`` / backend for
    SQLite, ``schema`` recreated in ``pg_url`` for PostgreSQL)."""
    data_dir = data_dir / backend
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if backend == "sqlite":
        url = f"sqlite:///{data_dir / 'bench.db'}"
    else:
        admin = create_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{pg_url}?options=-csearch_path%3D{schema}"
    settings = Settings(
        data_dir=data_dir, database_url=url, secret_key=SECRET, encryption_key=ENCRYPTION, **overrides
    )
    rt = Runtime(settings)
    migrate.upgrade(rt.engine)
    return rt


def new_project(rt: Runtime) -> int:
    with transaction(rt.sessions) as db:
        return accounts.create_project(db, "Bench").id


def new_sessions(rt: Runtime, project_id: int, count: int, at: datetime) -> list[tuple[int, str]]:
    out = []
    with transaction(rt.sessions) as db:
        for n in range(count):
            session, token = start_session(
                db,
                rt.signer,
                project_id=project_id,
                lifetime=timedelta(hours=48),
                page_url="https://shop.example/",
                user_agent="bench",
                user_id=None,
                metadata=None,
                token=None,
                at=at + timedelta(milliseconds=n),  # ids are time-ordered: one per millisecond
            )
            out.append((session.id, token))
    return out


def new_integration(
    rt: Runtime, project_id: int, raw: dict[str, Any], name: str, checkpoint: datetime
) -> int:
    (integration_id,) = new_integrations(rt, project_id, {name: raw}, checkpoint)
    return integration_id


def new_integrations(
    rt: Runtime, project_id: int, raws: dict[str, dict[str, Any]], checkpoint: datetime
) -> list[int]:
    """Datadog integrations by name, due now, in one transaction."""
    ids = []
    with transaction(rt.sessions) as db:
        for name, raw in raws.items():
            public, secrets = split(validate("datadog", raw, block_private=False))
            row = store.create(
                db,
                project_id=project_id,
                provider="datadog",
                name=name,
                settings=public,
                secrets=None,
                poll_interval=rt.settings.poll_interval_seconds,
                lookback=timedelta(hours=24),
            )
            row.secrets = rt.vault.encrypt(secrets, context(row))
            row.checkpoint = checkpoint
            row.next_poll_at = datetime.now(UTC)
            ids.append(row.id)
    return ids


def context_of(rt: Runtime) -> PollContext:
    return PollContext(sessions=rt.sessions, settings=rt.settings, signer=rt.signer, vault=rt.vault)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- 1. pipeline


def pipeline_records(tokens: list[str], count: int, now: datetime, rng: random.Random) -> list[list[Record]]:
    """Pages of error records like a log provider returns them; every tenth carries a token."""
    pages: list[list[Record]] = []
    for start in range(0, count, PAGE):
        page = []
        for n in range(start, min(start + PAGE, count)):
            at = now - timedelta(seconds=rng.uniform(0, 3600))
            attributes: dict[str, Any] = {
                "http": {"method": "POST", "status_code": 500, "url_details": {"path": f"/cart/{n % 97}"}},
                "usr": {"id": f"user-{rng.randrange(20000)}"},
                "logger": {"name": "app.payments", "thread_name": "MainThread"},
                "duration": rng.randrange(10**6, 10**9),
            }
            if n % 10 == 0:
                token = tokens[rng.randrange(len(tokens))]
                if n % 20 == 0:
                    message = f"[openReplaySessionToken={token}] payment failed for order {n}: card declined"
                else:
                    message = f"ValueError: [openReplaySessionToken={token}] bad amount {n}"
            else:
                message = (
                    f"upstream error calling payments: 502 Bad Gateway (request {rng.getrandbits(64):x}, "
                    f"attempt {n % 3 + 1})"
                )
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
                )
            )
        pages.append(page)
    return pages


def bench_pipeline(backend: str, count: int, pg_url: str) -> dict[str, Any]:
    rt = fresh_runtime(backend, pg_url)
    try:
        rng = random.Random(7)
        now = datetime.now(UTC)
        project_id = new_project(rt)
        tokens = [token for _, token in new_sessions(rt, project_id, 1000, now - timedelta(hours=2))]
        integration_id = new_integration(rt, project_id, _dd_settings("http://127.0.0.1:9"), "bench", now)
        ctx = context_of(rt)
        warmup = pipeline_records(tokens, PAGE, now, rng)
        for page in warmup:
            for record in page:
                record.provider_id += "-warmup"
        pages = pipeline_records(tokens, count, now, rng)

        servers: set[int] = set()

        def run(batch: list[list[Record]]) -> tuple[float, float, int]:
            wall, cpu, imported = time.perf_counter(), time.process_time(), 0
            for page in batch:
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
                    )
                    imported += new
                    if backend == "postgres":
                        servers.add(int(db.scalar(text("SELECT pg_backend_pid()")) or 0))
            return time.perf_counter() - wall, time.process_time() - cpu, imported

        run(warmup)
        server_before = {pid: process_cpu_seconds(pid) for pid in servers}
        wall, cpu, imported = run(pages)
        server_cpu = sum(process_cpu_seconds(pid) - server_before.get(pid, 0.0) for pid in servers)
        # The pure-Python part alone (extraction, verification, event rows) for the breakdown.
        began = time.perf_counter()
        for page in pages:
            result = Correlation()
            candidates = verify_records(page, Verifier(rt.signer, project_id, now), result)
            windows = {c.data.session_id: _window(project_id, now) for c in candidates}
            attach(
                candidates,
                windows,
                project_id=project_id,
                integration_id=integration_id,
                provider="datadog",
                grace=timedelta(days=1),
                result=result,
                imported_at=now,
            )
        in_memory = time.perf_counter() - began
        with transaction(rt.sessions) as db:
            stored = db.scalar(select(func.count()).select_from(BackendEvent))
    finally:
        rt.close()
    return {
        "backend": backend,
        "records": count,
        "events_imported": imported,
        "events_stored": stored,
        "seconds": round(wall, 3),
        "records_per_s": round(count / wall),
        "importer_cpu_s": round(cpu, 2),
        "records_per_cpu_s": round(count / cpu),
        "server_cpu_s": round(server_cpu, 2),
        "records_per_cpu_s_with_server": round(count / (cpu + server_cpu)),
        "in_memory_records_per_s": round(count / in_memory),
    }


def _window(project_id: int, now: datetime) -> Any:
    from replaylink.store.events import SessionWindow

    return SessionWindow(project_id, now - timedelta(hours=2), now + timedelta(hours=46))


def _dd_settings(url: str, api_key: str = datadog_fake.API_KEY) -> dict[str, Any]:
    return {"api_key": api_key, "application_key": datadog_fake.APPLICATION_KEY, "base_url": url}


# --------------------------------------------------------------------------- 2. freshness


async def _freshness(rt: Runtime, count: int, span: float, drain: float) -> dict[str, Any]:
    rng = random.Random(11)
    now = datetime.now(UTC)
    project_id = new_project(rt)
    sessions = new_sessions(rt, project_id, 10, now - timedelta(minutes=5))
    visible: dict[str, float] = {}
    seen: dict[str, float] = {}
    with datadog_fake.running() as fake:
        new_integration(rt, project_id, _dd_settings(fake.url), "fresh", now - timedelta(minutes=1))
        importer = Importer(context_of(rt))
        worker = asyncio.create_task(importer.run())
        stop_watch = threading.Event()

        def watch() -> None:
            while not stop_watch.is_set():
                with rt.sessions() as db:
                    ids = db.scalars(select(BackendEvent.provider_record_id)).all()
                moment = time.monotonic()
                for record_id in ids:
                    seen.setdefault(record_id, moment)
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        moments = sorted(rng.uniform(0, span) for _ in range(count))
        began = time.monotonic()
        for n, moment in enumerate(moments):
            await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
            _, token = sessions[n % len(sessions)]
            record_id = f"fresh-{n}"
            # Indexed 2 s after it was written, as providers do.
            log = datadog_fake.make_log(
                f"[openReplaySessionToken={token}] payment failed #{n}",
                timestamp=datetime.now(UTC) - timedelta(seconds=2),
                status="error",
                log_id=record_id,
            )
            fake.state.add_records([log])
            visible[record_id] = time.monotonic()
        deadline = time.monotonic() + drain
        while len(seen) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        importer.stop()
        await worker
        stop_watch.set()
        watcher.join()
    delays = [seen[rid] - at for rid, at in visible.items() if rid in seen]
    return {
        "records": count,
        "imported": len(delays),
        "poll_interval_s": rt.settings.poll_interval_seconds,
        "settle_s": rt.settings.settle_seconds,
        "p50_s": round(statistics.median(delays), 1) if delays else None,
        "p95_s": round(pct(delays, 95), 1) if delays else None,
        "max_s": round(max(delays), 1) if delays else None,
    }


def bench_freshness(backend: str, count: int, span: float, pg_url: str) -> dict[str, Any]:
    rt = fresh_runtime(backend, pg_url)
    try:
        result = asyncio.run(_freshness(rt, count, span, drain=60.0))
    finally:
        rt.close()
    return {"backend": backend, **result}


# --------------------------------------------------------------------------- 3. scale


def _serve_keys(port: int, delay: float, records: dict[str, list[dict[str, Any]]], keep_alive: float) -> None:
    """The fake's process: one Datadog search endpoint for every key in ``records``; idle
    connections are closed after ``keep_alive`` seconds."""
    import uvicorn

    from tests.peers.datadog_importer_fake import KeyedState, multi_key_app

    keyed = KeyedState(delay=delay)
    for key, logs in records.items():
        keyed.add_key(key).add_records(logs)
    uvicorn.run(
        multi_key_app(keyed),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=int(keep_alive),
    )


FAKE_KEEP_ALIVE = 75.0
"""Seconds the scale part's fake keeps an idle connection: nginx's default, more than a poll
interval, as an API behind a load balancer does (uvicorn's own default, 5 s, made every 15 s poll
open a new connection)."""


@contextmanager
def keyed_fake(
    delay: float, records: dict[str, list[dict[str, Any]]], keep_alive: float = FAKE_KEEP_ALIVE
) -> Iterator[tuple[str, int]]:
    """The fake's URL and process id."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_keys, args=(port, delay, records, keep_alive), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/docs", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the fake did not start") from None
                time.sleep(0.1)
        yield url, int(process.pid or 0)
    finally:
        process.terminate()
        process.join(timeout=10)


WORKER_APP = "rl-bench-worker"
SAMPLE_EVERY = 2.0
"""Seconds between two samples of the lag and the backlog."""


def _scale_cpu(rt: Runtime, workers: list[int], fake_pid: int) -> dict[str, float]:
    """CPU seconds so far of the workers, of their PostgreSQL backends, and of the fake."""
    with rt.engine.connect() as conn:
        backends = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :app"), {"app": WORKER_APP}
        ).scalars()
        server = sum(process_cpu_seconds(int(pid)) for pid in backends)
    return {
        "workers": sum(process_cpu_seconds(pid) for pid in workers),
        "postgres": server,
        "provider_fake": process_cpu_seconds(fake_pid),
    }


@dataclass
class ScaleSample:
    """One look at the integrations table during the measured window."""

    at: float
    """Seconds since the measured window began."""
    polls: int
    """Lease versions so far (one per claim)."""
    lags: list[float]
    """Now minus checkpoint, per integration polled at least once."""
    backlog: int
    """Integrations due (``next_poll_at`` passed) that no worker holds."""
    events: int


def _scale_sample(rt: Runtime, began: float) -> ScaleSample:
    now = datetime.now(UTC)
    with rt.sessions() as db:
        polls = int(db.scalar(select(func.sum(Integration.lease_version))) or 0)
        checkpoints = db.scalars(select(Integration.checkpoint)).all()
        backlog = db.scalar(
            select(func.count()).where(Integration.next_poll_at <= now, Integration.lease_owner.is_(None))
        )
        events = int(db.scalar(select(func.count()).select_from(BackendEvent)) or 0)
    moment = datetime.now(UTC)
    return ScaleSample(
        at=time.monotonic() - began,
        polls=polls,
        lags=[(moment - c).total_seconds() for c in checkpoints if c],
        backlog=int(backlog or 0),
        events=events,
    )


def _worker_env(url: str, src: Path | None) -> dict[str, str]:
    env = environment_without_settings()
    env.update(
        # Named, so their PostgreSQL backends can be found and their CPU read.
        REPLAYLINK_DATABASE_URL=f"{url}&application_name={WORKER_APP}",
        REPLAYLINK_DATA_DIR=str(DATA_DIR / "scale-worker"),
        REPLAYLINK_SECRET_KEY=SECRET,
        REPLAYLINK_ENCRYPTION_KEY=ENCRYPTION,
        REPLAYLINK_LOG_LEVEL="warning",
    )
    if src is not None:  # another revision's code first on the path (``--before``)
        env["PYTHONPATH"] = str(src)
    return env


def bench_scale(
    n: int,
    seconds: float,
    warmup: float,
    pg_url: str,
    workers: int = 2,
    src: Path | None = None,
    first_polls_within: float = 0.0,
    fake_keep_alive: float = FAKE_KEEP_ALIVE,
) -> dict[str, Any]:
    """One scale run in a scratch schema; the workers run the code in ``src`` (default: this tree).

    The measured window starts ``warmup`` seconds after the workers start, or once every
    integration has been polled once (its first poll imports its record) if that takes longer,
    up to ``first_polls_within`` seconds: the minute measured is then the steady state, not
    5,000 first polls.
    """
    procs: list[subprocess.Popen[bytes]] = []
    with scratch_database("postgres", DATA_DIR, pg_url, "rl_bench_scale") as url:
        rt = Runtime(
            Settings(data_dir=DATA_DIR, database_url=url, secret_key=SECRET, encryption_key=ENCRYPTION)
        )
        migrate.upgrade(rt.engine)
        try:
            now = datetime.now(UTC)
            project_id = new_project(rt)
            sessions = new_sessions(rt, project_id, 100, now - timedelta(minutes=30))
            keys = [f"bench-key-{i:04d}" for i in range(n)]
            records = {
                key: [
                    datadog_fake.make_log(
                        f"[openReplaySessionToken={sessions[i % len(sessions)][1]}] payment failed",
                        timestamp=now - timedelta(seconds=30),
                        status="error",
                        log_id=f"scale-{i}",
                    )
                ]
                for i, key in enumerate(keys)
            }
            with keyed_fake(0.05, records, fake_keep_alive) as (fake_url, fake_pid):
                raws = {f"dd-{i:04d}": _dd_settings(fake_url, key) for i, key in enumerate(keys)}
                new_integrations(rt, project_id, raws, now - timedelta(minutes=1))
                env = _worker_env(url, src)
                binary = [sys.executable, "-c", "from replaylink.cli import main; main()", "worker"]
                log_dir = DATA_DIR / "scale-logs"
                log_dir.mkdir(parents=True, exist_ok=True)
                for w in range(workers):
                    with (log_dir / f"worker-{w}.log").open("wb") as handle:
                        procs.append(
                            subprocess.Popen(binary, stdout=handle, stderr=subprocess.STDOUT, env=env)
                        )
                started = time.monotonic()
                all_polled_at = None
                while (elapsed := time.monotonic() - started) < warmup or (
                    all_polled_at is None and elapsed < first_polls_within
                ):
                    if all_polled_at is None and _scale_sample(rt, started).events >= n:
                        all_polled_at = time.monotonic() - started
                    time.sleep(0.5)
                warmed_up = time.monotonic() - started
                measured = time.monotonic()
                first = _scale_sample(rt, measured)
                cpu_before = _scale_cpu(rt, [p.pid for p in procs], fake_pid)
                samples: list[ScaleSample] = []
                while time.monotonic() - measured < seconds:
                    time.sleep(SAMPLE_EVERY)
                    samples.append(_scale_sample(rt, measured))
                    if all_polled_at is None and samples[-1].events >= n:
                        all_polled_at = time.monotonic() - started
                last = samples[-1]
                cpu = {
                    k: v - cpu_before.get(k, 0.0)
                    for k, v in _scale_cpu(rt, [p.pid for p in procs], fake_pid).items()
                }
                load = os.getloadavg()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            rt.close()
    polls = last.polls - first.polls
    lags = [lag for sample in samples for lag in sample.lags]
    return {
        "integrations": n,
        "workers": workers,
        "provider_latency_ms": 50,
        "fake_keep_alive_s": fake_keep_alive,
        "poll_interval_s": rt.settings.poll_interval_seconds,
        "first_poll_of_all_s": round(all_polled_at, 1) if all_polled_at is not None else None,
        "measured_from_s": round(warmed_up, 1),
        "polls_per_s": round(polls / last.at, 1),
        "needed_polls_per_s": round(n / rt.settings.poll_interval_seconds, 1),
        "lag_p50_s": round(statistics.median(lags), 1),
        "lag_p99_s": round(pct(lags, 99), 1),
        "worst_lag_s": round(max(max(s.lags) for s in samples), 1),
        # Steady means these do not grow: the worst lag and the due-but-unclaimed backlog per 10 s.
        "worst_lag_by_10s": _by_10s(samples, lambda s: max(s.lags)),
        "backlog_by_10s": _by_10s(samples, lambda s: s.backlog),
        "events": last.events,
        "load_average": [round(x, 1) for x in load],
        # CPU per poll over the measured window: what 333 polls/s would need on an idle host.
        "cpu_ms_per_poll": {k: round(1000 * v / max(1, polls), 2) for k, v in cpu.items()},
        "worker_exit_codes": [proc.returncode for proc in procs],
    }


def _by_10s(samples: list[ScaleSample], value: Callable[[ScaleSample], float]) -> list[float]:
    """The largest ``value`` of the samples in each 10 s of the measured window."""
    buckets: dict[int, float] = {}
    for sample in samples:
        bucket = int(sample.at // 10)
        buckets[bucket] = max(buckets.get(bucket, value(sample)), value(sample))
    return [round(buckets[b], 1) for b in sorted(buckets)]


def run_scale(args: argparse.Namespace) -> None:
    """The scale part; with ``--before REV``, REV's workers and this tree's alternate, REV first."""
    rows: list[tuple[str, Path | None]] = [("after", None)]
    with contextlib.ExitStack() as stack:
        if args.before:
            before = stack.enter_context(before_worktree(args.before)) / "src"
            rows = [(f"before ({args.before})", before), ("after", None)]
        results: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.scale_rounds):
            for label, src in rows:
                result = bench_scale(
                    args.integrations,
                    args.scale_seconds,
                    args.scale_warmup,
                    args.pg_url,
                    src=src,
                    first_polls_within=args.scale_first_polls_within,
                    fake_keep_alive=args.fake_keep_alive,
                )
                results.setdefault(label, []).append(result)
                print("scale", label, json.dumps(result), flush=True)
    if len(rows) == 2:
        (b_label, _), (a_label, _) = rows
        for key in ("polls_per_s", "worst_lag_s"):
            b = statistics.median(r[key] for r in results[b_label])
            a = statistics.median(r[key] for r in results[a_label])
            print(f"scale {key}: before {b}, after {a}, after/before {a / b:.2f}x", flush=True)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="pipeline,freshness,scale")
    parser.add_argument("--backends", default="sqlite,postgres", help="for pipeline and freshness")
    parser.add_argument("--records", type=int, default=200_000, help="pipeline records")
    parser.add_argument("--fresh-records", type=int, default=20, help="freshness: records")
    parser.add_argument("--fresh-span", type=float, default=120.0, help="freshness: seconds to spread them")
    parser.add_argument("--integrations", type=int, default=1000, help="scale: integrations")
    parser.add_argument("--scale-seconds", type=float, default=60.0, help="scale: measured seconds")
    parser.add_argument("--scale-warmup", type=float, default=30.0, help="scale: seconds before measuring")
    parser.add_argument(
        "--scale-first-polls-within",
        type=float,
        default=0.0,
        help="scale: wait up to this many seconds for every integration's first poll before measuring",
    )
    parser.add_argument("--scale-rounds", type=int, default=1, help="scale: runs of each revision")
    parser.add_argument("--before", help="scale: a git revision whose workers run first, for before/after")
    parser.add_argument(
        "--fake-keep-alive",
        type=float,
        default=FAKE_KEEP_ALIVE,
        help="scale: the fake's idle keep-alive, seconds",
    )
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    parts = args.parts.split(",")
    backends = args.backends.split(",")
    if "pipeline" in parts:
        for backend in backends:
            print("pipeline", json.dumps(bench_pipeline(backend, args.records, args.pg_url)), flush=True)
    if "freshness" in parts:
        for backend in backends[:1]:
            fresh = bench_freshness(backend, args.fresh_records, args.fresh_span, args.pg_url)
            print("freshness", json.dumps(fresh), flush=True)
    if "scale" in parts:
        run_scale(args)


if __name__ == "__main__":
    main()
