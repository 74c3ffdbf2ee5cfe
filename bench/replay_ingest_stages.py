"""Benchmark: CPU per step of replay batch ingest, in one thread of this process (no HTTP).

Run: ``python -m bench.replay_ingest_stages --db postgres --batches 400`` (``--db sqlite``). The
ingestor's own steps run one after the other on the batches of ``bench.replay_ingest`` (~20 KB of
gzip, 169 KB of JSON) for 20 sessions, into the filesystem store: token check, decode (gunzip +
parse), the session read, the blob write, the index. Printed: CPU ms per batch of each step
(``time.process_time``: this process's user + system time, so the blob's ``fsync`` kernel work
counts) and its wall time, and the host's load average.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from bench.replay_ingest import PG_URL, SECRET, batch_body, batch_tail
from bench.support import scratch_database
from replaylink.config import Settings
from replaylink.replay.batch import parse_batch
from replaylink.replay.store import segment_key
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import transaction
from replaylink.store.sessions import start_session

T = TypeVar("T")
STEPS = ("token", "decode", "read", "blob", "index")


def run(db_kind: str, batches: int) -> dict[str, Any]:
    rng = random.Random(3)
    with (
        tempfile.TemporaryDirectory(prefix="rl-bench-stages-") as tmp,
        scratch_database(db_kind, Path(tmp), PG_URL, "rl_bench_stages") as url,
    ):
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=url, secret_key=SECRET, encryption_key=SECRET
        )
        rt = Runtime(settings)
        migrate.upgrade(rt.engine)
        with transaction(rt.sessions) as db:
            project = accounts.create_project(db, "bench")
        tokens = []
        for _ in range(20):
            with transaction(rt.sessions) as db:
                _session, token = start_session(
                    db,
                    rt.signer,
                    project_id=project.id,
                    lifetime=timedelta(hours=2),
                    page_url="https://shop.example/",
                    user_agent="bench",
                    user_id=None,
                    metadata=None,
                    token=None,
                )
            tokens.append(token)
        now_ms = int(time.time() * 1000)
        tails = [gzip.compress(batch_tail(rng, now_ms - 1000), 6) for _ in range(4)]
        bodies = [(tokens[i % 20], batch_body("tab-1", i // 20, tails[i % 4])) for i in range(batches + 20)]
        ingestor = rt.ingestor
        cpu = dict.fromkeys(STEPS, 0.0)
        wall = dict.fromkeys(STEPS, 0.0)

        def step(name: str, work: Callable[..., T], *args: Any) -> T:
            began_cpu, began = time.process_time(), time.perf_counter()
            result = work(*args)
            cpu[name] += time.process_time() - began_cpu
            wall[name] += time.perf_counter() - began
            return result

        for index, (token, body) in enumerate(bodies):
            if index == 20:  # the first round warms the pools and psycopg's prepared statements
                cpu, wall = dict.fromkeys(STEPS, 0.0), dict.fromkeys(STEPS, 0.0)
            claims = step("token", ingestor.authenticate, token, time.time())
            raw, stored = step("decode", ingestor.decode, body, "gzip")
            batch = step("decode", parse_batch, raw)
            state = step("read", ingestor._read, claims.session_id, batch)
            assert state is not None and not state.segment_exists
            digest = hashlib.sha256(stored).hexdigest()
            key = segment_key(state.project_id, state.session_id, batch.tab, batch.seq, digest)
            step("blob", ingestor.store.put, key, stored)
            added = step("index", ingestor._index, state, batch, key, stored, len(raw), time.time())
            assert added is not None and added.value == "stored"
        rt.close()
    return {
        "db": db_kind,
        "batches": batches,
        "cpu_ms": {name: round(value * 1000 / batches, 3) for name, value in cpu.items()},
        "cpu_ms_total": round(sum(cpu.values()) * 1000 / batches, 2),
        "wall_ms": {name: round(value * 1000 / batches, 3) for name, value in wall.items()},
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    print(json.dumps(run(args.db, args.batches)), flush=True)


if __name__ == "__main__":
    main()
