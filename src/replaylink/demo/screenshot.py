"""Take the README's screenshot: a session page with a backend error on the replay's timeline.

``python -m replaylink.demo.screenshot [--out docs/screenshots/session-backend-error.png]`` runs
``replaylink demo --simulate 1`` in a temporary directory, waits until the session has its backend
error, signs in to the dashboard in Chromium, opens the session, seeks to the error's marker and
saves the page. Everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from replaylink.config import environment_without_settings
from replaylink.demo.simulate import CHROMIUM_ARGS


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replaylink.demo.screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots/session-backend-error.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--snippet-mode", choices=["sdk", "seed"], default="sdk")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        env = environment_without_settings()
        demo = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-c", "from replaylink.cli import main; main()", "demo", "--data-dir", str(data),
             "--simulate", "1", "--snippet-mode", args.snippet_mode, "--chromium", args.chromium],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait(
                lambda: (data / "simulation.json").exists() or demo.poll() is not None, 180, "the simulation"
            )
            run = json.loads((data / "run.json").read_text())
            account = json.loads((data / "demo.json").read_text())
            session = json.loads((data / "simulation.json").read_text())["sessions"][0]
            api = httpx.Client(
                base_url=run["replaylink_url"], headers={"Authorization": f"Bearer {account['api_key']}"}
            )
            path = f"/api/v1/projects/{run['project_id']}/sessions/{session['session_id']}"
            _wait(lambda: api.get(path).json()["backend_events"] > 0, 60, "the backend error")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
                page.goto(run["replaylink_url"] + "/login")
                page.fill("#email", account["email"])
                page.fill("#password", account["password"])
                page.click("button[type=submit]")
                page.wait_for_url("**/projects/**")
                page.goto(
                    f"{run['replaylink_url']}/projects/{run['project_id']}/sessions/{session['session_id']}"
                )
                marker = page.locator("[data-kind=backend]").first
                marker.wait_for(timeout=30_000)
                marker.click()
                time.sleep(2.5)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            if demo.poll() is None:
                demo.send_signal(signal.SIGTERM)
                demo.wait(60)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
