"""Benchmark: session starts per second under concurrent clients, beside a minimal Starlette app.

Run: ``python -m bench.session_starts [--clients 50] [--seconds 20] [--slices 4]
[--targets sqlite,postgres] [--before REV] [--logs DIR]``.

Each target is served as its own process, the way a user runs it: ``replaylink serve`` (one
uvicorn process with the importer, default settings: log level ``info`` with uvicorn's access
log, SQLite in the data directory or ``REPLAYLINK_DATABASE_URL``), and ``bench.minimal_app``
(a one-route Starlette app served by ``uvicorn.run`` with the same options). ``--before REV``
also serves REV's code (a temporary ``git worktree``, its ``src`` first on ``PYTHONPATH``) on a
database of each kind. All servers run at once; each target gets ``--clients`` loops that POST
``/ingest/v1/sessions`` back to back over their own keep-alive connection, with varied page URLs,
user agents, user ids and metadata, and one start in ten continuing the client's previous
session by its token. A target's ``--seconds`` are cut into ``--slices`` slices taken in turn
(target 1, 2, ..., 1, 2, ...), each after a 2 s warm-up, so that on a shared machine every
target sees the same load. The load generator is this process (aiohttp, one event loop), not the
server: it competes for the cores like any client on the same host would.

Printed per target: successful requests/s, errors (every non-200 answer or transport error, with
the first few bodies), p50/p99 latency (ms), the ratio of its req/s to the minimal app's, the
server process's CPU per successful request (``/proc``, warm-ups included) and the minimal app's
CPU per request divided by it, and the load average at the start of the slices.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.support import before_worktree, process_cpu_seconds, scratch_database
from replaylink.config import Settings, environment_without_settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import transaction
from tests.peers.common import free_port

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key-0123456789abcdef"
WARM_UP = 2.0


@dataclass
class Figures:
    """One target's figures, summed over its slices."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(what[:300])


@dataclass
class Target:
    label: str
    base: str
    pid: int
    project_key: str
    log: Path
    figures: Figures = field(default_factory=Figures)


# ----------------------------------------------------------------------------- servers


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
def serving(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[tuple[str, int]]:
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
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


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


async def load(target: Target, clients: int, seconds: float) -> None:
    """One slice: ``clients`` loops for ``seconds`` after the warm-up. Every failed request counts
    (also one begun in the warm-up); latencies and successes only of requests begun after it."""
    figures = target.figures
    measure_from = time.monotonic() + WARM_UP
    stop_at = measure_from + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Origin": "https://shop.example"}
    connector = aiohttp.TCPConnector(limit=clients)
    url = f"{target.base}/ingest/v1/sessions"
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as http:

        async def client(index: int) -> None:
            rng = random.Random(f"{target.label}-{index}-{len(figures.loads)}")
            token: str | None = None
            while (began := time.monotonic()) < stop_at:
                body = start_body(rng, target.project_key, token if rng.random() < 0.1 else None)
                try:
                    async with http.post(url, json=body) as answer:
                        raw = await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    figures.failed(f"{type(exc).__name__}: {exc}")
                    continue
                if status != 200:
                    figures.failed(f"{status}: {raw.decode(errors='replace')}")
                    continue
                token = json.loads(raw)["token"]
                if began >= measure_from:
                    figures.ok += 1
                    figures.latencies.append(time.monotonic() - began)

        await asyncio.sleep(0)
        load_before = os.getloadavg()[0]
        cpu_before = process_cpu_seconds(target.pid)
        await asyncio.gather(*(client(i) for i in range(clients)))
        # CPU over warm-up and slice alike, divided by the requests of the slice: an upper bound.
        figures.cpu_seconds += process_cpu_seconds(target.pid) - cpu_before
        figures.seconds += seconds
        figures.loads.append(load_before)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def row(target: Target) -> dict[str, Any]:
    figures = target.figures
    log = target.log.read_text()
    return {
        "req_per_s": round(figures.ok / figures.seconds, 1),
        "ok": figures.ok,
        "errors": figures.errors,
        "p50_ms": round(pct(figures.latencies, 0.50), 1),
        "p99_ms": round(pct(figures.latencies, 0.99), 1),
        "server_cpu_ms_per_req": round(figures.cpu_seconds * 1000 / max(1, figures.ok), 2),
        "load_average": f"{min(figures.loads):.1f}-{max(figures.loads):.1f}",
        "server_tracebacks": log.count("Traceback (most recent call last)"),
        "error_samples": figures.samples,
    }


# ----------------------------------------------------------------------------- targets


def minimal_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.minimal_app", "--port", str(port)]


@contextmanager
def replaylink_target(
    label: str, kind: str, args: argparse.Namespace, tmp: Path, src: Path | None
) -> Iterator[Target]:
    data_dir = tmp / f"data-{label.replace(' ', '-')}"
    with scratch_database(kind, data_dir, args.pg_url, "rl_bench_starts") as url:
        port = free_port()
        env = environment_without_settings()
        env.update(
            REPLAYLINK_DATA_DIR=str(data_dir),
            REPLAYLINK_DATABASE_URL=url,
            REPLAYLINK_SECRET_KEY=SECRET,
            REPLAYLINK_ENCRYPTION_KEY=SECRET,
        )
        if src is not None:
            env["PYTHONPATH"] = f"{src / 'src'}{os.pathsep}{Path.cwd()}"
        # Migrated by the code it serves: REV does not know this code's newer migrations.
        script = "import sys; from pathlib import Path; from bench.session_starts import prepare; "
        script += "print(prepare(sys.argv[1], Path(sys.argv[2])))"
        project_key = subprocess.run(
            [sys.executable, "-c", script, url, str(data_dir)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        command = [sys.executable, "-c", "from replaylink.cli import main; main()"]
        command += ["serve", "--port", str(port)]
        log = tmp / f"{label.replace(' ', '-')}.log"
        with serving(command, env, port, log) as (base, pid):
            yield Target(label, base, pid, project_key, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per target")
    parser.add_argument("--slices", type=int, default=4, help="interleaved slices the seconds are cut in")
    parser.add_argument("--targets", default="sqlite,postgres")
    parser.add_argument("--before", help="a git revision whose replaylink serve to measure too")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--logs", type=Path, help="a directory to keep the servers' logs in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rl-bench-starts-") as name, ExitStack() as stack:
        tmp = Path(name)
        port = free_port()
        base, pid = stack.enter_context(
            serving(minimal_command(port), dict(os.environ), port, tmp / "min.log")
        )
        targets = [Target("minimal Starlette app", base, pid, "unused", tmp / "min.log")]
        before = stack.enter_context(before_worktree(args.before)) if args.before else None
        for kind in args.targets.split(","):
            if before is not None:
                label = f"{kind} before ({args.before})"
                targets.append(stack.enter_context(replaylink_target(label, kind, args, tmp, before)))
            targets.append(stack.enter_context(replaylink_target(kind, kind, args, tmp, None)))
        for _ in range(args.slices):
            for target in targets:
                asyncio.run(load(target, args.clients, args.seconds / args.slices))
        rows = [(t.label, row(t)) for t in targets]
        if args.logs:
            for target in targets:
                (args.logs / target.log.name).write_text(target.log.read_text())
    floor = rows[0][1]
    print(
        f"{args.clients} clients; {args.seconds:.0f} s per target in {args.slices} interleaved slices; "
        "load generator: aiohttp in the bench process"
    )
    print(
        f"{'target':<24} {'req/s':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>5}"
        f" {'CPU ms/req':>10} {'CPU ratio':>9}  load"
    )
    for label, figures in rows:
        ratio = figures["req_per_s"] / floor["req_per_s"]
        cpu_ratio = floor["server_cpu_ms_per_req"] / figures["server_cpu_ms_per_req"]
        print(
            f"{label:<24} {figures['req_per_s']:>7} {figures['errors']:>6} {figures['p50_ms']:>7}"
            f" {figures['p99_ms']:>7} {ratio:>5.2f} {figures['server_cpu_ms_per_req']:>10}"
            f" {cpu_ratio:>9.2f}  {figures['load_average']}"
        )
        for sample in figures["error_samples"]:
            print(f"    e.g. {sample}")
    print(json.dumps(dict(rows)), flush=True)


if __name__ == "__main__":
    main()
