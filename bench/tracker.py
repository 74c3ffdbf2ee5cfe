"""Browser tracker figures: IIFE size, main-thread overhead, full snapshot time, upload volume, DOM change ->
stored latency.

`python -m bench.tracker [--seconds 60] [--before OLD.js [--after NEW.js]]` (needs `make tracker` and
/usr/bin/chromium). One `replaylink serve` on SQLite, pages served from another local origin, Debian's
Chromium headless through Playwright.

- size: the IIFE served at /static/tracker.js, gzip -9.
- overhead: CDP `Performance.getMetrics` ThreadTime (main-thread CPU time) over wall time on a busy page
  (40 DOM changes/s on ~2,400 nodes), with and without the tracker; the difference is the tracker's cost. Its
  noise is the page's own rendering (style, layout, paint: ~25 % of a core that varies by +-2 points between
  runs), so ScriptDuration (CPU time in JavaScript, which includes the DOM calls' MutationObserver work and
  varies by a few hundredths) is printed too: it isolates the tracker's script cost.
- snapshot: the wall time of a full snapshot of the busy page (`takeFullSnapshot`, serialised and queued).
- upload: bytes stored for the session (gzip, as sent) per minute, on a quiet page and on the busy page.
- latency: the busy page stamps markers into the DOM (5/s); the store is polled every 200 ms and each
  marker's latency is when its segment was first readable minus when the page wrote it.

`--before` compares two bundles in one run (e.g. a copy of the tracker.js built from the previous commit
against the current build, or `--after`): both are served from the pages' origin, and each CPU round runs the
page without a tracker, with the old and with the new bundle, in an order rotated every round, so that the
host's drift (other jobs on its 2 cores) falls on all three alike. Per round it prints each overhead; the
summary is the median of the rounds' own differences.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
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


@dataclass
class Bundle:
    """A tracker build under test: its name in the output, the file and where the pages load it from."""

    name: str
    path: Path
    src: str
    ingest: bool = False  # loaded from elsewhere than ReplayLink: the snippet names the ingest point

    def size(self) -> str:
        data = self.path.read_bytes()
        return f"{len(data) / 1024:.1f} KB, gzip -9 {len(gzip.compress(data, 9)) / 1024:.1f} KB"


def snippet(rl: ReplayLinkServer, bundle: Bundle) -> str:
    cfg: dict[str, str] = {"projectKey": rl.project_key}
    if bundle.ingest:
        cfg["ingestPoint"] = rl.base_url
    return (
        "<script>(function(w,d,src,cfg){var q=[],r=(w.OpenReplay={_q:q,_cfg:cfg});"
        '["start","stop","event"].forEach(function(m){r[m]=function(){var a=[].slice.call(arguments);'
        "return new Promise(function(res){q.push([m,a,res]);});};});"
        "r.getSessionToken=r.getSessionID=function(){return null;};"
        "var s=d.createElement('script');s.async=true;s.src=src;d.head.appendChild(s);"
        f"}})(window,document,{json.dumps(bundle.src)},{json.dumps(cfg)});"
        "OpenReplay.start();</script>"
    )


def page_html(rl: ReplayLinkServer | None, busy: bool, bundle: Bundle | None = None) -> str:
    head = snippet(rl, bundle) if rl and bundle else ""
    body = "<h1>Bench</h1><p>A quiet page with a form.</p><input id='q'>"
    script = BUSY_SCRIPT if busy else ""
    return f"<!doctype html><html><head><title>bench</title>{head}</head><body>{body}{script}</body></html>"


def task_seconds(cdp: Any) -> tuple[float, float]:
    """The renderer main thread's CPU time (CDP ThreadTime) and its part in JavaScript (ScriptDuration,
    counted in thread time): unlike TaskDuration in wall time they do not grow when other processes compete
    for the cores."""
    metrics = {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["ThreadTime"], metrics["ScriptDuration"]


def stored(rl: ReplayLinkServer, session_id: str) -> tuple[int, list[dict[str, Any]]]:
    manifest = rl.api("GET", f"/api/v1/projects/{rl.project_id}/sessions/{session_id}/replay").json()
    return int(manifest["bytes"]), manifest["segments"]


def run_page(
    browser: Any, url: str, seconds: float, rl: ReplayLinkServer | None, poll_marks: bool
) -> dict[str, Any]:
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    page.goto(url)
    loaded = time.monotonic()
    session_id = None
    if rl:
        page.wait_for_function("() => window.OpenReplay.getSessionID()")
        session_id = page.evaluate("() => window.OpenReplay.getSessionID()")
    page.wait_for_timeout(1000)  # past load and the first snapshot
    (busy0, script0), wall0 = task_seconds(cdp), time.monotonic()
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
    busy, script = (b - a for a, b in zip((busy0, script0), task_seconds(cdp), strict=True))
    wall = time.monotonic() - wall0
    upload_kb_min = None
    if rl and session_id:
        page.close(run_before_unload=True)  # the last batch goes with the pagehide beacon
        time.sleep(2)
        total, _ = stored(rl, session_id)
        upload_kb_min = total / 1024 / ((time.monotonic() - 2 - loaded) / 60)
    context.close()
    return {
        "cpu_pct": 100 * busy / wall,
        "script_pct": 100 * script / wall,
        "upload_kb_min": upload_kb_min,
        "latencies": latencies,
    }


SNAPSHOT_JS = """async (n) => {
    const recorder = window.OpenReplay.tracker.recorder;
    const nodes = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
    let count = 0;
    while (nodes.nextNode()) count++;
    const times = [];
    for (let i = 0; i < n; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const t0 = performance.now();
        recorder.fullSnapshot();
        times.push(performance.now() - t0);
    }
    return {nodes: count, times};
}"""


def snapshot_times(browser: Any, url: str, count: int) -> tuple[int, list[float]]:
    """The wall time of `count` full snapshots of the page (rrweb's serialisation, the tracker's masking, JSON
    and queueing: all synchronous), each after 200 ms of the page's own work; and the page's node count."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.OpenReplay.getSessionID()")
    page.wait_for_timeout(1000)
    result = page.evaluate(SNAPSHOT_JS, count)
    context.close()
    return int(result["nodes"]), [float(t) for t in result["times"]]


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def loadavg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="upload and latency run per page")
    parser.add_argument("--cpu-seconds", type=float, default=20.0, help="each CPU run")
    parser.add_argument("--pairs", type=int, default=3, help="CPU rounds (without / with each bundle)")
    parser.add_argument("--snapshots", type=int, default=10, help="full snapshots timed per bundle")
    parser.add_argument(
        "--before", type=Path, help="an older tracker IIFE to compare with (alternating runs)"
    )
    parser.add_argument(
        "--after", type=Path, default=STATIC_TRACKER, help="the bundle compared with --before"
    )
    parser.add_argument("--no-upload", action="store_true", help="CPU and snapshot figures only")
    args = parser.parse_args()
    for path in filter(None, [args.before, args.after]):
        if not path.exists():
            raise SystemExit(
                f"no {path}" + (": build the tracker first (make tracker)" if path == STATIC_TRACKER else "")
            )

    from playwright.sync_api import sync_playwright

    print(f"load average at start {loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        proc, rl = start_replaylink(Path(tmp))
        shop, httpd = serve_origin()
        try:
            if args.before:
                bundles = [
                    Bundle(
                        name,
                        path,
                        shop.route(f"/{name}/tracker.js", path.read_bytes(), content_type="text/javascript"),
                        True,
                    )
                    for name, path in (("before", args.before), ("after", args.after))
                ]
            else:
                bundles = [Bundle("tracker", args.after, rl.base_url + "/static/tracker.js")]
            for b in bundles:
                print(f"{b.name} ({b.path}): {b.size()}")
            plain = shop.route("/busy-plain", page_html(None, busy=True))
            busy = {b.name: shop.route(f"/busy-{b.name}", page_html(rl, True, b)) for b in bundles}
            quiet = {b.name: shop.route(f"/quiet-{b.name}", page_html(rl, False, b)) for b in bundles}
            runs: dict[str, list[float]] = {"without": [], **{b.name: [] for b in bundles}}
            scripts: dict[str, list[float]] = {name: [] for name in runs}
            snapshots: dict[str, tuple[int, list[float]]] = {}
            tracked: dict[str, dict[str, Any]] = {}
            calm: dict[str, dict[str, Any]] = {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # CPU: alternating runs without any polling (the poller would compete for the 2 cores)
                order = ["without", *busy]
                for i in range(args.pairs):
                    turn = order[i % len(order) :] + order[: i % len(order)]
                    for name in turn:
                        url, server = (plain, None) if name == "without" else (busy[name], rl)
                        run = run_page(browser, url, args.cpu_seconds, server, False)
                        runs[name].append(run["cpu_pct"])
                        scripts[name].append(run["script_pct"])
                    print(
                        f"  round {i + 1} ({' / '.join(turn)}, load {loadavg()}): "
                        f"without {runs['without'][-1]:.2f} % (script {scripts['without'][-1]:.2f})"
                        + "".join(
                            f", {n} {runs[n][-1] - runs['without'][-1]:+.2f} "
                            f"(script {scripts[n][-1] - scripts['without'][-1]:+.2f})"
                            for n in busy
                        ),
                        flush=True,
                    )
                for b in bundles:
                    snapshots[b.name] = snapshot_times(browser, busy[b.name], args.snapshots)
                if not args.no_upload:
                    for b in bundles:
                        tracked[b.name] = run_page(browser, busy[b.name], args.seconds, rl, poll_marks=True)
                        calm[b.name] = run_page(browser, quiet[b.name], args.seconds, rl, poll_marks=False)
                browser.close()
        finally:
            httpd.shutdown()
            proc.terminate()
            proc.wait(timeout=10)
    print(f"load average at end {loadavg()}")
    without = runs["without"]
    plain_pct = statistics.median(without)
    print(
        f"main thread, busy page ({args.pairs} rounds of {args.cpu_seconds:.0f} s, medians): "
        f"{plain_pct:.2f} % of a core without a tracker (runs {', '.join(f'{v:.1f}' for v in without)})"
    )
    print(
        f"  script (ScriptDuration) without a tracker {statistics.median(scripts['without']):.2f} % "
        f"(runs {', '.join(f'{v:.2f}' for v in scripts['without'])})"
    )
    for b in bundles:
        with_ = runs[b.name]
        diffs = [w - p for w, p in zip(with_, without, strict=True)]
        sdiffs = [w - p for w, p in zip(scripts[b.name], scripts["without"], strict=True)]
        print(
            f"  {b.name}: {statistics.median(with_):.2f} % with it: "
            f"overhead {statistics.median(diffs):+.2f} % "
            f"(median of the rounds' differences {', '.join(f'{d:+.2f}' for d in diffs)}); "
            f"script {statistics.median(sdiffs):+.2f} % ({', '.join(f'{d:+.2f}' for d in sdiffs)})"
        )
    if len(bundles) == 2:
        for what, series in (("main thread", runs), ("script", scripts)):
            old, new = (series[x.name] for x in bundles)
            deltas = [y - x for x, y in zip(old, new, strict=True)]
            print(
                f"  after - before, {what}: {statistics.median(deltas):+.2f} % of a core (per round "
                f"{', '.join(f'{d:+.2f}' for d in deltas)})"
            )
    for name, (nodes, times) in snapshots.items():
        print(
            f"full snapshot, busy page ({nodes} nodes), {name}: median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms ({len(times)} snapshots)"
        )
    for name in tracked:
        lat = tracked[name]["latencies"]
        print(
            f"upload, {name}: quiet {calm[name]['upload_kb_min']:.1f} KB/min, "
            f"busy {tracked[name]['upload_kb_min']:.1f} KB/min (gzip)"
        )
        if lat:
            print(
                f"DOM change -> stored segment, {name} ({len(lat)} markers): "
                f"p50 {pct(lat, 0.5) / 1000:.2f} s, "
                f"p95 {pct(lat, 0.95) / 1000:.2f} s, p99 {pct(lat, 0.99) / 1000:.2f} s, "
                f"max {max(lat) / 1000:.2f} s, mean {statistics.mean(lat) / 1000:.2f} s"
            )


if __name__ == "__main__":
    main()
