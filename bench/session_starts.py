"""Benchmark: session starts per second under concurrent clients, beside a minimal Starlette app.

Run: ``python -m bench.session_starts [--clients 50] [--seconds 20] [--targets minimal,sqlite,postgres]
[--before REV]``.

Each target is served as its own process, the way a user runs it: ``replaylink serve`` (one
uvicorn process with the importer, default settings: log level ``info`` with uvicorn's access
log, SQLite in the data directory or ``REPLAYLINK_DATABASE_URL``), and ``bench.minimal_app``
(a one-route Starlette app served by ``uvicorn.run`` with the same options). This process is the
load generator (aiohttp, one event loop; it is not the server, so it competes for the 2 cores
with the server like any client on the same host would): ``--clients`` loops each POST
``/ingest/v1/sessions`` back to back over their own keep-alive connection for ``--seconds``
after a 2 s warm-up, with varied page URLs, user agents, user ids and metadata, and one start in
ten continuing the client's previous session by its token.

Printed per target: successful requests/s, errors (any non-200 answer or transport error, with
the first few bodies), p50/p99 latency (ms, from >= 100 samples), the ratio of its req/s to the
minimal app's in the same run, and the load average. ``--before REV`` also serves REV's code
(a temporary ``git worktree``, its ``src`` first on ``PYTHONPATH``) against the same kind of
database in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import create_engine, text

from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import transaction
from tests.peers.common import free_port

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key-0123456789abcdef"
WARM_UP = 2.0


@dataclass
class Figures:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(what[:300])


# ----------------------------------------------------------------------------- servers


@contextmanager
def database(kind: str, data_dir: Path, pg_url: str) -> Iterator[str]:
    """A migrated database holding one project: its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'replaylink.db'}"
        return
    schema = f"rl_bench_starts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str, data_dir: Path) -> str:
    """Migrate, create the project the tracker records for; its project key."""
    rt = Runtime(Settings(data_dir=data_dir, database_url=url, secret_key=SECRET, encryption_key=SECRET))
    try:
        migrate.upgrade(rt.engine)
        with transaction(rt.sessions) as db:
            return accounts.create_project(db, "bench").public_key
    finally:
        rt.close()


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with log.open("w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{command} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def before_worktree(rev: str) -> Iterator[Path]:
    """A detached worktree of ``rev`` for the duration of the run."""
    path = Path(tempfile.mkdtemp(prefix="rl-bench-before-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], check=False, capture_output=True)


# ----------------------------------------------------------------------------- the load


def start_body(rng: random.Random, project_key: str, token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "projectKey": project_key,
        "url": f"https://shop.example/{rng.choice(['', 'cart', 'checkout', 'p'])}/{rng.randint(1, 10**6)}",
        "userAgent": f"Mozilla/5.0 (X11; Linux x86_64) Chrome/{rng.randint(100, 131)}.0",
    }
    if rng.random() < 0.5:
        body["userId"] = f"user-{rng.randint(1, 5000)}@example.com"
    if rng.random() < 0.3:
        body["metadata"] = {f"k{i}": rng.choice(["a", 1, 2.5, True, None]) for i in range(rng.randint(1, 8))}
    if token is not None:
        body["token"] = token
    return body


async def load(base: str, project_key: str, clients: int, seconds: float) -> Figures:
    figures = Figures()
    measure_from = time.monotonic() + WARM_UP
    stop_at = measure_from + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Origin": "https://shop.example"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as http:

        async def client(index: int) -> None:
            rng = random.Random(index)
            token: str | None = None
            while (began := time.monotonic()) < stop_at:
                body = start_body(rng, project_key, token if rng.random() < 0.1 else None)
                measured = began >= measure_from
                try:
                    async with http.post(f"{base}/ingest/v1/sessions", json=body) as answer:
                        raw = await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if measured:
                        figures.failed(f"{type(exc).__name__}: {exc}")
                    continue
                if not measured:
                    continue
                if status != 200:
                    figures.failed(f"{status}: {raw.decode(errors='replace')}")
                    continue
                token = json.loads(raw)["token"]
                figures.ok += 1
                figures.latencies.append(time.monotonic() - began)

        await asyncio.gather(*(client(i) for i in range(clients)))
    return figures


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def measure(base: str, project_key: str, args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    figures = asyncio.run(load(base, project_key, args.clients, args.seconds))
    return {
        "req_per_s": round(figures.ok / args.seconds, 1),
        "ok": figures.ok,
        "errors": figures.errors,
        "p50_ms": round(pct(figures.latencies, 0.50), 1),
        "p99_ms": round(pct(figures.latencies, 0.99), 1),
        "load_average": f"{load_before:.1f}->{os.getloadavg()[0]:.1f}",
        "error_samples": figures.samples,
    }


# ----------------------------------------------------------------------------- targets


def run_minimal(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, "-m", "bench.minimal_app", "--port", str(port)]
    with serving(command, dict(os.environ), port, tmp / "minimal.log") as base:
        return measure(base, "unused", args)


def run_replaylink(kind: str, args: argparse.Namespace, tmp: Path, src: Path | None) -> dict[str, Any]:
    data_dir = tmp / f"data-{kind}-{uuid.uuid4().hex[:6]}"
    with database(kind, data_dir, args.pg_url) as url:
        project_key = prepare(url, data_dir)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAYLINK_")}
        env.update(
            REPLAYLINK_DATA_DIR=str(data_dir),
            REPLAYLINK_DATABASE_URL=url,
            REPLAYLINK_SECRET_KEY=SECRET,
            REPLAYLINK_ENCRYPTION_KEY=SECRET,
        )
        if src is not None:
            env["PYTHONPATH"] = f"{src / 'src'}{os.pathsep}{Path.cwd()}"
        command = [sys.executable, "-c", "from replaylink.cli import main; main()"]
        command += ["serve", "--port", str(port)]
        with serving(command, env, port, tmp / f"serve-{kind}.log") as base:
            figures = measure(base, project_key, args)
        log = (tmp / f"serve-{kind}.log").read_text()
        figures["server_tracebacks"] = log.count("Traceback (most recent call last)")
        if args.logs:
            (args.logs / f"serve-{kind}{'-before' if src else ''}.log").write_text(log)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--targets", default="minimal,sqlite,postgres")
    parser.add_argument("--before", help="a git revision whose replaylink serve to measure too")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--logs", type=Path, help="a directory to keep the servers' logs in")
    args = parser.parse_args()
    targets = args.targets.split(",")
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="rl-bench-starts-") as name:
        tmp = Path(name)
        if "minimal" in targets:
            rows.append(("minimal Starlette app", run_minimal(args, tmp)))
        for kind in ("sqlite", "postgres"):
            if kind not in targets:
                continue
            if args.before:
                with before_worktree(args.before) as path:
                    rows.append((f"{kind} before ({args.before})", run_replaylink(kind, args, tmp, path)))
            rows.append((f"{kind}", run_replaylink(kind, args, tmp, None)))
    floor = rows[0][1]["req_per_s"] if targets[0] == "minimal" else None
    print(f"{args.clients} clients, {args.seconds:.0f} s each, load generator: aiohttp in this process")
    print(f"{'target':<28} {'req/s':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  load")
    for label, row in rows:
        ratio = f"{row['req_per_s'] / floor:.2f}" if floor else "-"
        print(
            f"{label:<28} {row['req_per_s']:>8} {row['errors']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8}"
            f" {ratio:>6}  {row['load_average']}"
        )
        for sample in row["error_samples"]:
            print(f"    e.g. {sample}")
    print(json.dumps(dict(rows)), flush=True)


if __name__ == "__main__":
    main()
