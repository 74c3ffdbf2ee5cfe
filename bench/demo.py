"""Checkout to backend error visible in the API, on ``replaylink demo`` (the importer polling osmem).

``python -m bench.demo [--checkouts 120] [--spread 60] [--poll-interval 2] [--snippet-mode sdk]``

Starts the demo, then fires failing checkouts (each its own session, started like the tracker
starts one) at random moments over ``--spread`` seconds. A watcher lists the sessions with backend
errors every 100 ms; the figure per checkout is from the shop's answer to the first listing that
shows its session with a backend error. Prints p50/p95/p99/max in seconds.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from replaylink.demo.catalogue import DECLINED_CARD
from tests.demo_support import running_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkouts", type=int, default=120)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--snippet-mode", choices=["sdk", "seed"], default="sdk")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_demo(
            Path(tmp), "--snippet-mode", args.snippet_mode, "--poll-interval", str(args.poll_interval)
        ) as demo,
    ):
        run = demo.run
        answered: dict[str, float] = {}
        visible: dict[str, float] = {}
        done = threading.Event()

        def checkout(delay: float) -> None:
            time.sleep(delay)
            answer = httpx.post(
                run["replaylink_url"] + "/ingest/v1/sessions",
                json={"projectKey": run["project_key"], "url": run["shop_url"]},
                timeout=30,
            )
            if answer.status_code != 200:
                raise RuntimeError(f"session start: {answer.status_code} {answer.text[:300]}")
            started = answer.json()
            httpx.post(
                run["shop_url"] + "/api/checkout",
                json={"items": [{"sku": "mug", "quantity": 1}], "name": "B", "card_number": DECLINED_CARD},
                headers={"X-OpenReplay-SessionToken": started["token"]},
                timeout=30,
            )
            answered[started["sessionId"]] = time.monotonic()

        def watch() -> None:
            with demo.api as api:
                path = f"/api/v1/projects/{run['project_id']}/sessions"
                while not done.is_set():
                    page = api.get(path, params={"has_backend_errors": "true", "limit": 200}).json()
                    now = time.monotonic()
                    for row in page["sessions"]:
                        visible.setdefault(row["id"], now)
                    if len(visible) >= args.checkouts:
                        return
                    time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(checkout, sorted(random.uniform(0, args.spread) for _ in range(args.checkouts))))
        watcher.join(args.poll_interval * 4 + 30)
        done.set()
        demo.stop(signal.SIGTERM)
    delays = sorted(visible[s] - answered[s] for s in answered if s in visible)
    missing = len(answered) - len(delays)
    quantiles = statistics.quantiles(delays, n=100)
    print(
        f"demo ({args.snippet_mode} mode, poll every {args.poll_interval:g} s, settle 1 s): "
        f"{len(delays)} checkouts, checkout -> backend error in the API: "
        f"p50 {quantiles[49]:.2f} s  p95 {quantiles[94]:.2f} s  p99 {quantiles[98]:.2f} s  "
        f"max {delays[-1]:.2f} s; not visible: {missing}"
    )


if __name__ == "__main__":
    main()
