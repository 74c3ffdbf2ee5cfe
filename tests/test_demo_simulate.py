"""``replaylink demo --simulate 2``: Chromium shops through the tracker's pages; within a bounded time
the API shows both sessions with replay segments and their backend error, which the timeline places
inside the failing checkout request the tracker recorded.
Both the SDK mode and the seed-snippet mode; the stop leaves no process (Chromium included) behind."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.demo_support import running_demo, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's /usr/bin/chromium"),
]
EXPECTED = {"declined card": ("PaymentDeclinedError", 402), "carrier timeout": ("CarrierTimeoutError", 504)}


@pytest.mark.parametrize("mode", ["sdk", "seed"])
def test_simulated_sessions_show_their_backend_errors(tmp_path: Path, mode: str) -> None:
    with running_demo(tmp_path, "--simulate", "2", "--snippet-mode", mode) as demo:
        report_file = demo.data_dir / "simulation.json"
        wait_for(report_file.exists, 240, "the simulation's report")
        demo.watch()
        report = json.loads(report_file.read_text())["sessions"]
        assert [item["scenario"] for item in report] == list(EXPECTED)
        api = demo.api
        project = demo.run["project_id"]

        listed = wait_for(
            lambda: (
                (
                    rows := api.get(
                        f"/api/v1/projects/{project}/sessions", params={"has_backend_errors": "true"}
                    ).json()["sessions"]
                )
                and len(rows) == 2
                and rows
            ),
            60,
            "two sessions with backend errors",
        )
        assert {row["id"] for row in listed} == {item["session_id"] for item in report}
        for item in report:
            exception, status = EXPECTED[item["scenario"]]
            assert item["status"] == status and item["retry_status"] == 200
            detail: dict[str, Any] = api.get(
                f"/api/v1/projects/{project}/sessions/{item['session_id']}"
            ).json()
            errors = [e for e in detail["events"] if e["level"] == "error"]
            assert len(errors) == 1, errors
            error = errors[0]
            assert error["provider"] == "elasticsearch"
            assert error["exception_type"].endswith(exception)
            # The error is dated inside the checkout request the browser made (same machine clock).
            began = datetime.fromisoformat(item["checkout_started_at"])
            ended = datetime.fromisoformat(item["checkout_ended_at"])
            assert began <= datetime.fromisoformat(error["timestamp"]) <= ended
            assert error["outside_session"] is False and error["offset_ms"] > 0
            assert detail["page_url"].startswith(demo.run["shop_url"])

            # The replay was stored, and its timeline puts the error inside the failed checkout request.
            base = f"/api/v1/projects/{project}/sessions/{item['session_id']}"
            manifest = api.get(base + "/replay").json()
            assert manifest["segments"] and manifest["segments"][0]["has_full_snapshot"]
            timeline = wait_for(
                lambda: (
                    (t := api.get(base + "/timeline").json())
                    and any(e["kind"] == "backend" for e in t["events"])
                    and t
                ),
                30,
                "the backend error on the timeline",
            )
            kinds = [e["kind"] for e in timeline["events"]]
            assert kinds.count("page") >= 3  # catalogue, cart, checkout
            requests = [
                e
                for e in timeline["events"]
                if e["kind"] == "failed_request" and e["url"].endswith("/api/checkout")
            ]
            backend = [e for e in timeline["events"] if e["kind"] == "backend"]
            assert [r["status"] for r in requests] == [status] and len(backend) == 1
            request, marker = requests[0], backend[0]
            slack = 5  # the browser rounds its timings to whole milliseconds
            assert (
                request["ts_ms"] - slack
                <= marker["ts_ms"]
                <= request["ts_ms"] + request["duration_ms"] + slack
            )
            assert marker["outside_recording"] is False
            assert marker["backend"]["id"] == error["id"]
        # The demo reports once it has seen the simulation end, which may come after the report file.
        wait_for(lambda: "simulated 2 session(s)" in demo.log() or None, 60, "the demo's simulation summary")

        assert demo.stop(signal.SIGTERM) == 0
        assert wait_for(lambda: not demo.left_running() or None, 5, "the demo's processes to end", 0.1)
