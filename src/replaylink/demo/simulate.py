"""Scripted shopping sessions in Debian's Chromium through Playwright (``replaylink demo --simulate N``).

Each session browses the catalogue, fills the cart, checks out into one of the backend failures
(declined card, carrier timeout, division by zero), then pays with a good card. The report
(``--out``) gives each session's id and token, its scenario and the wall-clock span of its failing
checkout request, so tests can line the backend error up with the request.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replaylink.demo.catalogue import DECLINED_CARD, GOOD_CARD

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCENARIOS: dict[str, dict[str, str]] = {
    "declined card": {"card_number": DECLINED_CARD, "shipping": "standard", "split_between": "1"},
    "carrier timeout": {"card_number": GOOD_CARD, "shipping": "express", "split_between": "1"},
    "division by zero": {"card_number": GOOD_CARD, "shipping": "standard", "split_between": "0"},
}
TRACKER_READY = (
    "() => { const o = window.OpenReplay; const t = o && typeof o.getSessionToken === 'function' "
    "&& o.getSessionToken(); return typeof t === 'string' && t.length > 0; }"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def one_session(browser: Any, shop_url: str, index: int, pause: float) -> dict[str, Any]:
    """Drive one visitor through the shop; returns its part of the report."""
    scenario = list(SCENARIOS)[index % len(SCENARIOS)]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)  # a loaded machine: Chromium can be slow, never stuck
    page = context.new_page()
    try:
        page.goto(shop_url + "/")
        page.wait_for_function(TRACKER_READY, timeout=60_000)
        page.wait_for_selector("[data-add]")
        for sku in ("mug", "tee")[: 1 + index % 2]:
            page.click(f"[data-add='{sku}']")
            time.sleep(pause)
        page.click("a[href='/cart']")
        page.wait_for_selector("#cart-lines tbody tr")
        time.sleep(pause)
        page.click("#to-checkout")
        page.wait_for_selector("#checkout-form")
        page.wait_for_function(TRACKER_READY, timeout=60_000)
        for name, value in SCENARIOS[scenario].items():
            if name == "shipping":
                page.select_option("select[name=shipping]", value)
            else:
                page.fill(f"input[name={name}]", value)
        time.sleep(pause)
        started = _now()
        with page.expect_response("**/api/checkout") as answer:
            page.click("#pay")
        status = answer.value.status
        ended = _now()
        page.wait_for_selector("#checkout-result.failed, #checkout-result.ok")
        time.sleep(pause)
        page.fill("input[name=card_number]", GOOD_CARD)
        page.select_option("select[name=shipping]", "standard")
        page.fill("input[name=split_between]", "1")
        with page.expect_response("**/api/checkout") as retry:
            page.click("#pay")
        page.wait_for_selector("#checkout-result.ok")
        ids = page.evaluate("() => [window.OpenReplay.getSessionID(), window.OpenReplay.getSessionToken()]")
        time.sleep(pause)
        page.goto(shop_url + "/")  # a pagehide: the tracker flushes what it holds
        time.sleep(pause)
        return {
            "session_id": str(ids[0]),
            "token": ids[1],
            "scenario": scenario,
            "status": status,
            "retry_status": retry.value.status,
            "checkout_started_at": started,
            "checkout_ended_at": ended,
        }
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replaylink.demo.simulate", description=__doc__)
    parser.add_argument("--shop-url", required=True)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pause", type=float, default=0.4, help="Seconds between steps, like a person.")
    parser.add_argument("--headed", action="store_true", help="Show the browser window.")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(
            "--simulate needs Playwright for Python: pip install -e '.[demo]' in the repository root "
            "(or run `make demo` there)",
            file=sys.stderr,
        )
        return 2
    report: list[dict[str, Any]] = []
    launch_args = [a for a in CHROMIUM_ARGS if not (args.headed and a == "--headless")]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, args=launch_args, headless=not args.headed
        )
        try:
            for index in range(args.sessions):
                report.append(one_session(browser, args.shop_url.rstrip("/"), index, args.pause))
                print(json.dumps(report[-1]), flush=True)
        finally:
            browser.close()
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sessions": report}, indent=2))
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
