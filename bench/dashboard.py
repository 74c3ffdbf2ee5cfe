"""Dashboard figures in Chromium: first frame of a recorded 10-minute session, seek to a marker,
session list at 100,000 sessions. `python -m bench.dashboard [--runs 20]` (needs `make webui`)."""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright
from sqlalchemy import insert

from replaylink.config import Settings
from replaylink.ids import new_session_id
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import RecordedSession
from tests.backend_events import add_event
from tests.browser.dashboard_support import seed, sign_in
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, start_replaylink

MINUTES = 10
BATCH_MS = 5000


def _node(next_id: list[int], tag: str, children: list[dict[str, Any]], **attrs: str) -> dict[str, Any]:
    next_id[0] += 1
    return {"type": 2, "tagName": tag, "attributes": attrs, "childNodes": children, "id": next_id[0]}


def _text(next_id: list[int], text: str) -> dict[str, Any]:
    next_id[0] += 1
    return {"type": 3, "textContent": text, "id": next_id[0]}


def snapshot(ts: int) -> list[dict[str, Any]]:
    """Meta + a full snapshot of a ~2,000-node shop page."""
    ids = [1]
    rows = [
        _node(
            ids,
            "li",
            [_node(ids, "span", [_text(ids, f"Item {i}")]), _node(ids, "b", [_text(ids, f"{i}.99")])],
        )
        for i in range(400)
    ]
    body = _node(ids, "body", [_node(ids, "h1", [_text(ids, "Shop")]), _node(ids, "ul", rows)])
    html = _node(
        ids, "html", [_node(ids, "head", [_node(ids, "style", [_text(ids, "li{padding:4px}")])]), body]
    )
    doc = {
        "type": 0,
        "childNodes": [{"type": 1, "name": "html", "publicId": "", "systemId": "", "id": 2}, html],
        "id": 1,
    }
    return [
        {"type": 4, "data": {"href": "https://shop.example/", "width": 1280, "height": 800}, "timestamp": ts},
        {"type": 2, "data": {"node": doc, "initialOffset": {"top": 0, "left": 0}}, "timestamp": ts},
    ]


def record(url: str, project_key: str) -> tuple[int, int]:
    """A 10-minute recording through the real ingest endpoints: returns (session id, start ms)."""
    start = httpx.post(
        url + "/ingest/v1/sessions",
        json={"projectKey": project_key, "url": "https://shop.example/", "userAgent": "bench"},
    ).json()
    token, session_id = start["token"], int(start["sessionId"])
    t0 = int(time.time() * 1000) - MINUTES * 60_000 + 5_000
    for seq in range(MINUTES * 60_000 // BATCH_MS):
        base = t0 + seq * BATCH_MS
        events = snapshot(base) if seq % 12 == 0 else []
        events += [
            {
                "type": 3,
                "data": {"source": 1, "positions": [{"x": 10 + i, "y": 20 + i, "id": 5, "timeOffset": 0}]},
                "timestamp": base + i * 50 + 1,
            }
            for i in range(90)
        ]
        body = {
            "v": 1,
            "tab": "t1",
            "seq": seq,
            "events": events,
            "devtools": [],
            "page": {"url": "https://shop.example/", "width": 1280, "height": 800},
        }
        answer = httpx.post(
            url + "/ingest/v1/batches",
            content=gzip.compress(json.dumps(body).encode()),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        if answer.status_code >= 400:
            raise RuntimeError(f"batch {seq}: {answer.status_code} {answer.text[:300]}")
    return session_id, t0


def many_sessions(rt: Runtime, project_id: int, count: int) -> None:
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        started = now - timedelta(seconds=30 * i + 60)
        rows.append(
            {
                "id": new_session_id(started.timestamp()),
                "project_id": project_id,
                "started_at": started,
                "last_seen_at": started + timedelta(minutes=3),
                "token_expires_at": started + timedelta(hours=2),
                "page_url": "https://shop.example/",
                "user_agent": "bench",
                "user_id": f"user-{i % 5000}",
            }
        )
    with transaction(rt.sessions) as db:
        for i in range(0, count, 5000):
            db.execute(insert(RecordedSession), rows[i : i + 5000])


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    return f"| {name} | {len(values)} | {statistics.median(values):.0f} | {values[-1]:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, server = start_replaylink(
            Path(tmp),
            {"REPLAYLINK_REPLAY_BATCHES_PER_MINUTE": "100000", "REPLAYLINK_REPLAY_BATCH_BURST": "100000"},
        )
        rt = Runtime(Settings(data_dir=server.data_dir))
        try:
            session_id, _ = record(server.base_url, server.project_key)
            with transaction(rt.sessions) as db:
                row = db.get(RecordedSession, session_id)
                assert row is not None
            add_event(rt, row, timedelta(minutes=5), title="PaymentError: card declined")
            seed(rt)
            many_sessions(rt, server.project_id, args.sessions)
            first, seek, lists = [], [], []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                sign_in(page, server.base_url, server.admin_password)
                session_url = f"{server.base_url}/projects/{server.project_id}/sessions/{session_id}"
                for _ in range(args.runs):
                    page.goto(session_url)
                    page.wait_for_selector("[data-first-frame=true]", timeout=30_000)
                    first.append(
                        page.evaluate("performance.getEntriesByName('replaylink:first-frame')[0].startTime")
                    )
                    marker = page.get_by_role("button", name="PaymentError: card declined", exact=True)
                    t = time.perf_counter()
                    marker.click()
                    page.wait_for_selector("[data-seeked-to]", timeout=30_000)
                    seek.append((time.perf_counter() - t) * 1000)
                list_url = f"{server.base_url}/projects/{server.project_id}/sessions"
                for _ in range(args.runs):
                    t = time.perf_counter()
                    page.goto(list_url)
                    page.locator("table.sessions tbody tr").nth(49).wait_for()
                    more = page.get_by_role("button", name="Load more sessions")
                    loaded = time.perf_counter()
                    more.click()
                    page.locator("table.sessions tbody tr").nth(99).wait_for()
                    lists.append((loaded - t) * 1000)
                    lists.append((time.perf_counter() - loaded) * 1000)
                browser.close()
            print("| what | samples | median ms | max ms |\n|---|---:|---:|---:|")
            print(summary("first frame, 10-min session (from navigation)", first))
            print(summary("seek to a backend marker at 5:00", seek))
            print(summary(f"session list at {args.sessions:,} sessions: open / load more", lists))
        finally:
            rt.close()
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
