"""Benchmark: replay batch ingest against ``replaylink serve``, and the player's first request.

Run: ``python -m bench.replay_ingest --db postgres --store fs --pages 1000`` (``--db sqlite``,
``--store s3`` for moto's server in its own process). Each simulated page holds its own session
and sends a realistic ~20 KB gzip batch (rrweb mutations with text, mouse moves, clicks, a few
devtools events; ~5x compression) every 5 s on a fixed schedule, over one shared keep-alive pool,
for ``--seconds`` after one warm-up interval. The server runs as a separate process
(``replaylink serve --no-importer [--workers N]``) on the same 2-core host as this load
generator and PostgreSQL. The generator is one asyncio process whose bodies are pre-compressed
(per request it only gzips the small changing head); its own CPU per batch is printed too.

Printed: batches/s, errors, latency p50/p95/p99/max (from the request's start, and from its
scheduled time, which includes any backlog in the client), server CPU per batch (all of its
processes), load-generator CPU per batch, the host's load average, and the mean time per ingest
stage from the server's ``replaylink_replay_stage_seconds`` histogram (with one worker only). Then a
30-minute session (360 segments) is recorded and its manifest + first segment fetched 200 times.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import httpx

from bench.support import scratch_database
from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import transaction
from replaylink.store.models import RecordedSession
from tests.peers.cloudwatch_peer import moto_process
from tests.peers.common import free_port

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key-0123456789abcdef"
INTERVAL = 5.0
TARGET_GZIP = 20_000
WORDS = [
    "".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 7))
    for i in range(3000)
]


# ----------------------------------------------------------------------------- payloads


def _mutation(rng: random.Random, ts: int, node: int) -> dict[str, Any]:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
    return {
        "type": 3,
        "timestamp": ts,
        "data": {
            "source": 0,
            "texts": [],
            "attributes": [{"id": node + 1, "attributes": {"class": f"item {rng.choice(WORDS)}"}}],
            "removes": [{"parentId": node - 3, "id": node - 2}] if node % 3 == 0 else [],
            "adds": [
                {
                    "parentId": node - 1,
                    "nextId": None,
                    "node": {
                        "type": 2,
                        "tagName": "li",
                        "attributes": {"data-id": str(node)},
                        "childNodes": [],
                        "id": node,
                    },
                },
                {"parentId": node, "nextId": None, "node": {"type": 3, "textContent": words, "id": node + 1}},
            ],
        },
    }


def batch_tail(rng: random.Random, t0: int, *, full: bool = False) -> bytes:
    """Everything after ``"seq": n,`` of a batch whose gzip is about ``TARGET_GZIP`` bytes."""
    events: list[dict[str, Any]] = []
    if full:
        events.append(
            {
                "type": 4,
                "timestamp": t0,
                "data": {"href": "https://shop.example/", "width": 1280, "height": 800},
            }
        )
        events.append(
            {
                "type": 2,
                "timestamp": t0,
                "data": {
                    "node": {"type": 0, "childNodes": [], "id": 1},
                    "initialOffset": {"top": 0, "left": 0},
                },
            }
        )
    devtools = [
        {
            "type": "network",
            "ts": t0 + 100,
            "method": "GET",
            "url": "https://api.shop.example/cart",
            "status": 200,
            "duration": 42.5,
            "failed": False,
            "responseSize": 812,
        },
        {"type": "console", "ts": t0 + 900, "level": "warn", "message": "slow render"},
    ]
    node = 100
    while True:
        for _ in range(20):
            ts = t0 + len(events) * 20
            kind = rng.random()
            if kind < 0.6:
                events.append(_mutation(rng, ts, node))
                node += 2
            elif kind < 0.95:
                positions = [
                    {"x": rng.randint(0, 1280), "y": rng.randint(0, 800), "id": node, "timeOffset": -i * 50}
                    for i in range(5)
                ]
                events.append({"type": 3, "timestamp": ts, "data": {"source": 1, "positions": positions}})
            else:
                events.append(
                    {"type": 3, "timestamp": ts, "data": {"source": 2, "type": 2, "id": node, "x": 5, "y": 9}}
                )
        tail = json.dumps({"events": events, "devtools": devtools, "page": {"url": "https://shop.example/"}})[
            1:
        ]
        if len(gzip.compress(tail.encode(), 6)) >= TARGET_GZIP - 500:
            return tail.encode()


def batch_body(tab: str, seq: int, tail_gzip: bytes) -> bytes:
    """One batch's gzip: a small member with the changing head, then the page's pre-compressed tail
    (a valid multi-member gzip stream; the server inflates and parses it all)."""
    return gzip.compress(f'{{"v": 1, "tab": "{tab}", "seq": {seq}, '.encode(), 1) + tail_gzip


# ----------------------------------------------------------------------------- the server


@contextmanager
def s3_store() -> Iterator[dict[str, str]]:
    with moto_process() as endpoint:
        env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(env)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="replays")
        yield {**env, "REPLAYLINK_REPLAY_STORE": "s3://replays/bench", "REPLAYLINK_S3_ENDPOINT_URL": endpoint}


@contextmanager
def server(env: dict[str, str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(Path(sys.executable).with_name("replaylink")), "serve", "--no-importer"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("replaylink serve did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its living descendants (uvicorn's workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if entry.name == str(pid) or _descends(int(fields[1]), pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _descends(parent: int, ancestor: int) -> bool:
    while parent > 1:
        if parent == ancestor:
            return True
        try:
            parent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def stage_sums(base: str) -> dict[str, tuple[float, float]]:
    metrics = httpx.get(f"{base}/metrics").text
    found: dict[str, list[float]] = {}
    for name, stage, value in re.findall(
        r'replaylink_replay_stage_seconds_(sum|count)\{stage="(\w+)"\} ([0-9.e+-]+)', metrics
    ):
        found.setdefault(stage, [0.0, 0.0])[0 if name == "sum" else 1] = float(value)
    return {stage: (pair[0], pair[1]) for stage, pair in found.items()}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# ----------------------------------------------------------------------------- the load


async def start_sessions(base: str, project_key: str, pages: int) -> list[str]:
    tokens: list[str] = []
    async with aiohttp.ClientSession() as http:
        semaphore = asyncio.Semaphore(32)

        async def one() -> None:
            async with (
                semaphore,
                http.post(f"{base}/ingest/v1/sessions", json={"projectKey": project_key}) as r,
            ):
                tokens.append((await r.json())["token"])

        await asyncio.gather(*(one() for _ in range(pages)))
    return tokens


async def load(base: str, tokens: list[str], tails: list[bytes], seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    scheduled_latencies: list[float] = []
    errors: dict[str, int] = {}
    begin = time.monotonic()
    measure_from = begin + INTERVAL
    stop_at = measure_from + seconds
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout: reusing one the server is
    # closing just then fails (ServerDisconnectedError), and a page sends every 5 s.
    connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=4)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def page(index: int, token: str) -> None:
            tail = tails[index % len(tails)]
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            due = begin + random.random() * INTERVAL
            seq = 0
            while due < stop_at:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                body = batch_body(f"tab-{index}", seq, tail)
                sent = time.monotonic()
                try:
                    async with http.post(f"{base}/ingest/v1/batches", data=body, headers=headers) as answer:
                        await answer.read()
                        outcome = "ok" if answer.status == 204 else str(answer.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcome = exc.__class__.__name__
                done = time.monotonic()
                if due >= measure_from:
                    if outcome == "ok":
                        latencies.append(done - sent)
                        scheduled_latencies.append(done - due)
                    else:
                        errors[outcome] = errors.get(outcome, 0) + 1
                seq += 1
                due += INTERVAL

        await asyncio.gather(*(page(i, token) for i, token in enumerate(tokens)))
    total = len(latencies) + sum(errors.values())
    return {
        "batches": total,
        "per_second": round(total / seconds, 1),
        "errors": errors,
        "p50_ms": round(pct(latencies, 0.50), 1),
        "p95_ms": round(pct(latencies, 0.95), 1),
        "p99_ms": round(pct(latencies, 0.99), 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "p99_from_schedule_ms": round(pct(scheduled_latencies, 0.99), 1),
    }


def player(
    base: str, rt: Runtime, project_id: int, project_key: str, api_key: str, rng: random.Random
) -> dict[str, Any]:
    """A 30-minute recording (360 segments), then manifest + first segment, 200 times."""
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post("/ingest/v1/sessions", json={"projectKey": project_key}).json()["token"]
        session_id = rt.signer.verify(token).data.session_id  # type: ignore[union-attr]
        with transaction(rt.sessions) as db:
            row = db.get(RecordedSession, session_id)
            assert row is not None
            row.started_at -= timedelta(minutes=31)
        start_ms = int(time.time() * 1000) - 31 * 60 * 1000
        for seq in range(360):
            tail = gzip.compress(batch_tail(rng, start_ms + seq * 5000, full=seq % 120 == 0), 6)
            answer = http.post(
                "/ingest/v1/batches",
                content=batch_body("tab-1", seq, tail),
                headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"},
            )
            assert answer.status_code == 204, answer.text
        auth = {"Authorization": f"Bearer {api_key}"}
        manifest_ms: list[float] = []
        both_ms: list[float] = []
        for _ in range(200):
            began = time.perf_counter()
            manifest = http.get(f"/api/v1/projects/{project_id}/sessions/{session_id}/replay", headers=auth)
            middle = time.perf_counter()
            first = manifest.json()["segments"][0]["url"]
            segment = http.get(first, headers=auth)
            assert segment.status_code == 200
            ended = time.perf_counter()
            manifest_ms.append(middle - began)
            both_ms.append(ended - began)
        return {
            "segments": len(manifest.json()["segments"]),
            "manifest_bytes": len(manifest.content),
            "manifest_p50_ms": round(pct(manifest_ms, 0.5), 1),
            "manifest_p99_ms": round(pct(manifest_ms, 0.99), 1),
            "manifest_and_first_segment_p50_ms": round(pct(both_ms, 0.5), 1),
            "manifest_and_first_segment_p99_ms": round(pct(both_ms, 0.99), 1),
        }


def run(
    db_kind: str, store_kind: str, pages: int, seconds: float, workers: int, with_player: bool
) -> dict[str, Any]:
    rng = random.Random(14)
    with (
        tempfile.TemporaryDirectory(prefix="rl-bench-replay-") as tmp,
        scratch_database(db_kind, Path(tmp), PG_URL, "rl_bench_replay") as url,
        s3_store() if store_kind == "s3" else nullcontext(dict[str, str]()) as store_env,
    ):
        data_dir = Path(tmp) / "data"
        env = {
            "REPLAYLINK_DATA_DIR": str(data_dir),
            "REPLAYLINK_DATABASE_URL": url,
            "REPLAYLINK_SECRET_KEY": SECRET,
            "REPLAYLINK_ENCRYPTION_KEY": SECRET,
            "REPLAYLINK_LOG_LEVEL": "warning",
            "REPLAYLINK_REPLAY_BATCHES_PER_MINUTE": "100000",
            **store_env,
        }
        store_settings: dict[str, Any] = {
            k.removeprefix("REPLAYLINK_").lower(): v
            for k, v in store_env.items()
            if k.startswith("REPLAYLINK_")
        }
        settings = Settings(
            data_dir=data_dir, database_url=url, secret_key=SECRET, encryption_key=SECRET, **store_settings
        )
        rt = Runtime(settings)
        migrate.upgrade(rt.engine)
        with transaction(rt.sessions) as db:
            project = accounts.create_project(db, "bench")
            project_id, project_key = project.id, project.public_key
            api_key = accounts.create_api_key(db, None).key
        now_ms = int(time.time() * 1000)
        tails = [gzip.compress(batch_tail(rng, now_ms - 1000, full=i == 0), 6) for i in range(16)]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with server(env, port, workers) as process:
            tokens = asyncio.run(start_sessions(base, project_key, pages))
            before_cpu, before_stages = cpu_seconds(process.pid), stage_sums(base)
            before_client = resource.getrusage(resource.RUSAGE_SELF)
            figures = asyncio.run(load(base, tokens, tails, seconds))
            cpu = cpu_seconds(process.pid) - before_cpu
            after_client = resource.getrusage(resource.RUSAGE_SELF)
            after_stages = stage_sums(base)
            figures["load_average"] = [round(x, 1) for x in os.getloadavg()]
            sent = max(1, figures["batches"]) * (seconds + INTERVAL) / seconds  # the warm-up's too
            client = (after_client.ru_utime - before_client.ru_utime) + (
                after_client.ru_stime - before_client.ru_stime
            )
            figures["server_cpu_ms_per_batch"] = round(cpu * 1000 / sent, 2)
            figures["client_cpu_ms_per_batch"] = round(client * 1000 / sent, 2)
            figures["stage_mean_ms"] = {}  # each /metrics answer is one worker's: one worker only
            for stage, (total, count) in after_stages.items() if workers == 1 else ():
                old_total, old_count = before_stages.get(stage, (0.0, 0.0))
                figures["stage_mean_ms"][stage] = round(
                    (total - old_total) * 1000 / max(1, count - old_count), 2
                )
            figures["gzip_batch_bytes"] = round(
                statistics.mean(len(batch_body("tab-1", 1, t)) for t in tails)
            )
            if with_player:
                figures["player"] = player(base, rt, project_id, project_key, api_key, rng)
        rt.close()
    return {
        "db": db_kind,
        "store": store_kind,
        "pages": pages,
        "workers": workers,
        "seconds": seconds,
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--store", choices=["fs", "s3"], default="fs")
    parser.add_argument("--pages", type=int, nargs="+", default=[1000])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="replaylink serve --workers N")
    parser.add_argument("--no-player", action="store_true", help="Skip the 30-minute session's manifest.")
    args = parser.parse_args()
    for index, pages in enumerate(args.pages):
        result = run(
            args.db,
            args.store,
            pages,
            args.seconds,
            args.workers,
            with_player=not args.no_player and index == 0,
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
