"""Browser tracker figures: IIFE size, main-thread overhead, upload volume, DOM change -> stored latency.

`python -m bench.tracker [--seconds 60]` (needs `make tracker` and /usr/bin/chromium). One `replaylink serve`
on SQLite, pages served from another local origin, Debian's Chromium headless through Playwright.

- size: the IIFE served at /static/tracker.js, gzip -9.
- overhead: CDP `Performance.getMetrics` ThreadTime (main-thread CPU time) over wall time on a busy page
  (40 DOM changes/s on ~2,400 nodes), with and without the tracker; the difference is the tracker's cost.
- upload: bytes stored for the session (gzip, as sent) per minute, on a quiet page and on the busy page.
- latency: the busy page stamps markers into the DOM (5/s); the store is polled every 200 ms and each
  marker's latency is when its segment was first readable minus when the page wrote it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STATIC_TRACKER,
    ReplayLinkServer,
    serve_origin,
    start_replaylink,
)

BUSY_SCRIPT = """
<script>
  const table = document.createElement('table');
  for (let r = 0; r < 200; r++) {
    const tr = table.insertRow();
    for (let c = 0; c < 5; c++) tr.insertCell().textContent = 'cell ' + r + ':' + c;
  }
  document.body.appendChild(table);
  const marks = document.createElement('p'); marks.id = 'marks'; document.body.appendChild(marks);
  let n = 0, m = 0;
  setInterval(() => {            // 40 DOM changes per second
    n += 1;
    table.rows[n % 200].cells[n % 5].textContent = 'changed ' + n;
    if (n % 8 === 0) {           // 5 markers per second
      m += 1;
      marks.textContent = 'mark-' + m + '-' + Date.now();
    }
  }, 25);
</script>
"""


def snippet(rl: ReplayLinkServer) -> str:
    cfg = json.dumps({"projectKey": rl.project_key})
    return (
        "<script>(function(w,d,src,cfg){var q=[],r=(w.OpenReplay={_q:q,_cfg:cfg});"
        '["start","stop","event"].forEach(function(m){r[m]=function(){var a=[].slice.call(arguments);'
        "return new Promise(function(res){q.push([m,a,res]);});};});"
        "r.getSessionToken=r.getSessionID=function(){return null;};"
        "var s=d.createElement('script');s.async=true;s.src=src;d.head.appendChild(s);"
        f"}})(window,document,{json.dumps(rl.base_url + '/static/tracker.js')},{cfg});"
        "OpenReplay.start();</script>"
    )


def page_html(rl: ReplayLinkServer | None, busy: bool) -> str:
    head = snippet(rl) if rl else ""
    body = "<h1>Bench</h1><p>A quiet page with a form.</p><input id='q'>"
    script = BUSY_SCRIPT if busy else ""
    return f"<!doctype html><html><head><title>bench</title>{head}</head><body>{body}{script}</body></html>"


def task_seconds(cdp: Any) -> float:
    """The renderer main thread's CPU time (CDP ThreadTime): unlike TaskDuration (wall time of tasks) it
    does not grow when other processes compete for the cores."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


def stored(rl: ReplayLinkServer, session_id: str) -> tuple[int, list[dict[str, Any]]]:
    manifest = rl.api("GET", f"/api/v1/projects/{rl.project_id}/sessions/{session_id}/replay").json()
    return int(manifest["bytes"]), manifest["segments"]


def run_page(
    browser: Any, url: str, seconds: float, rl: ReplayLinkServer | None, poll_marks: bool
) -> dict[str, Any]:
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url)
    loaded = time.monotonic()
    session_id = None
    if rl:
        page.wait_for_function("() => window.OpenReplay.getSessionID()")
        session_id = page.evaluate("() => window.OpenReplay.getSessionID()")
    page.wait_for_timeout(1000)  # past load and the first snapshot
    busy0, wall0 = task_seconds(cdp), time.monotonic()
    seen: dict[str, int] = {}
    latencies: list[int] = []
    fetched: set[str] = set()
    deadline = wall0 + seconds
    while time.monotonic() < deadline:
        if poll_marks and rl and session_id:
            _, segments = stored(rl, session_id)
            now_ms = int(time.time() * 1000)
            for seg in segments:
                if seg["url"] in fetched:
                    continue
                fetched.add(seg["url"])
                text = rl.api("GET", seg["url"]).text
                for mark, written in re.findall(r"mark-(\d+)-(\d+)", text):
                    if mark not in seen:
                        seen[mark] = now_ms
                        latencies.append(now_ms - int(written))
        time.sleep(0.2)
    busy = task_seconds(cdp) - busy0
    wall = time.monotonic() - wall0
    upload_kb_min = None
    if rl and session_id:
        page.close(run_before_unload=True)  # the last batch goes with the pagehide beacon
        time.sleep(2)
        total, _ = stored(rl, session_id)
        upload_kb_min = total / 1024 / ((time.monotonic() - 2 - loaded) / 60)
    context.close()
    return {"cpu_pct": 100 * busy / wall, "upload_kb_min": upload_kb_min, "latencies": latencies}


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="upload and latency run per page")
    parser.add_argument("--cpu-seconds", type=float, default=20.0, help="each CPU run")
    parser.add_argument("--pairs", type=int, default=3, help="CPU runs with and without the tracker")
    args = parser.parse_args()
    if not STATIC_TRACKER.exists():
        raise SystemExit("build the tracker first: make tracker")
    size = len(gzip.compress(STATIC_TRACKER.read_bytes(), 9))
    print(
        f"IIFE /static/tracker.js: {STATIC_TRACKER.stat().st_size / 1024:.1f} KB, gzip {size / 1024:.1f} KB"
    )

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, rl = start_replaylink(Path(tmp))
        shop, httpd = serve_origin()
        try:
            plain = shop.route("/busy-plain", page_html(None, busy=True))
            busy = shop.route("/busy", page_html(rl, busy=True))
            quiet = shop.route("/quiet", page_html(rl, busy=False))
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # CPU: alternating runs without any polling (the poller would compete for the 2 cores)
                without, with_ = [], []
                for _ in range(args.pairs):
                    without.append(run_page(browser, plain, args.cpu_seconds, None, False)["cpu_pct"])
                    with_.append(run_page(browser, busy, args.cpu_seconds, rl, False)["cpu_pct"])
                tracked = run_page(browser, busy, args.seconds, rl, poll_marks=True)
                calm = run_page(browser, quiet, args.seconds, rl, poll_marks=False)
                browser.close()
        finally:
            httpd.shutdown()
            proc.terminate()
            proc.wait(timeout=10)
    lat = tracked["latencies"]
    plain_pct, tracked_pct = statistics.median(without), statistics.median(with_)
    print(
        f"main thread, busy page ({args.pairs} alternating runs of {args.cpu_seconds:.0f} s, medians): "
        f"{plain_pct:.2f} % of a core without the tracker, {tracked_pct:.2f} % with it: "
        f"overhead {tracked_pct - plain_pct:+.2f} % (runs without {', '.join(f'{v:.1f}' for v in without)}; "
        f"with {', '.join(f'{v:.1f}' for v in with_)})"
    )
    print(
        f"upload: quiet {calm['upload_kb_min']:.1f} KB/min, busy {tracked['upload_kb_min']:.1f} KB/min (gzip)"
    )
    if lat:
        print(
            f"DOM change -> stored segment ({len(lat)} markers): p50 {pct(lat, 0.5) / 1000:.2f} s, "
            f"p95 {pct(lat, 0.95) / 1000:.2f} s, p99 {pct(lat, 0.99) / 1000:.2f} s, "
            f"max {max(lat) / 1000:.2f} s, mean {statistics.mean(lat) / 1000:.2f} s"
        )


if __name__ == "__main__":
    main()
