"""SQLite writers in several processes: how long each short write transaction waits for its turn.

Run: ``python -m bench.sqlite_writers [--processes 2] [--transactions 500] [--hold-ms 1]``. Each
process opens ReplayLink's engine (``store.db.make_engine``: WAL, ``BEGIN IMMEDIATE``, the 30 s busy
timeout) on one scratch database and runs its transactions back to back, each inserting a row and
holding the write lock ``--hold-ms`` (a batch's index rows). Printed: transactions per second over
all processes, and the per-transaction wall time p50 / p99 / max (waiting for the lock included),
from ``processes x transactions`` samples.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from replaylink.store.db import make_engine, make_sessionmaker, write_transaction


def child(database: Path, transactions: int, hold: float) -> None:
    sessions = make_sessionmaker(make_engine(f"sqlite:///{database}"))
    waits = []
    for _ in range(transactions):
        began = time.perf_counter()
        with write_transaction(sessions) as db:
            db.execute(text("INSERT INTO bench_rows (value) VALUES (:v)"), {"v": "x" * 200})
            time.sleep(hold)
        waits.append(time.perf_counter() - began)
    print(json.dumps(waits))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--transactions", type=int, default=500, help="per process")
    parser.add_argument("--hold-ms", type=float, default=1.0)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.transactions, args.hold_ms / 1000)
        return
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "writers.db"
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, value TEXT)")
        engine.dispose()
        command = [sys.executable, "-m", "bench.sqlite_writers", "--child", str(database)]
        command += ["--transactions", str(args.transactions), "--hold-ms", str(args.hold_ms)]
        began = time.perf_counter()
        children = [
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(args.processes)
        ]
        times = sorted(t for one in children for t in json.loads(one.communicate()[0]))
        wall = time.perf_counter() - began
    ms = [t * 1000 for t in times]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{args.processes} processes x {args.transactions}: {len(ms) / wall:.0f} transactions/s, "
        f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
