"""Screenshots of the dashboard's main pages for the README: `python -m tests.browser.dashboard_screenshots`.

Starts `replaylink serve` on a fresh data dir, seeds it like the end-to-end tests, and writes PNGs to
docs/screenshots/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from replaylink.config import Settings
from replaylink.runtime import Runtime
from tests.browser.dashboard_support import seed, sign_in
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, start_replaylink

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, server = start_replaylink(Path(tmp))
        rt = Runtime(Settings(data_dir=server.data_dir))
        try:
            project_id, session_id, _ = seed(rt)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                sign_in(page, server.base_url, server.admin_password)
                base = f"{server.base_url}/projects/{project_id}"
                page.goto(f"{base}/sessions")
                page.locator("table").wait_for()
                page.screenshot(path=str(out / "sessions.png"))
                page.goto(f"{base}/sessions/{session_id}")
                page.get_by_role("button", name="PaymentError: card declined", exact=True).click()
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / "session.png"))
                page.goto(f"{base}/errors")
                page.locator("table").wait_for()
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / "backend-errors.png"))
                page.goto(f"{base}/preferences/integrations")
                page.get_by_role("button", name="Connect Datadog").click()
                page.screenshot(path=str(out / "integrations.png"))
                browser.close()
        finally:
            rt.close()
            proc.terminate()
            proc.wait(timeout=10)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
