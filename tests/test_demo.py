"""``replaylink demo`` end to end: the shop's failures reach the log store in the seed page's format,
the Elasticsearch integration imports them onto the session, and a stop leaves nothing running.

The session is started the way the tracker starts one (``POST /ingest/v1/sessions``) and its token
is sent to the shop in ``X-OpenReplay-SessionToken``, as the seed page's ``fetch`` example does.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from replaylink.demo import bootstrap
from replaylink.demo.catalogue import DECLINED_CARD, GOOD_CARD
from tests.demo_support import BIN, Demo, demo_env, running_demo, wait_for

pytestmark = pytest.mark.slow

FAILURES = {
    "PaymentDeclinedError": {"card_number": DECLINED_CARD, "shipping": "standard", "split_between": 1},
    "CarrierTimeoutError": {"card_number": GOOD_CARD, "shipping": "express", "split_between": 1},
    "ZeroDivisionError": {"card_number": GOOD_CARD, "shipping": "standard", "split_between": 0},
}


def _checkout(demo: Demo, token: str, **fields: Any) -> tuple[httpx.Response, datetime, datetime]:
    body = {"items": [{"sku": "mug", "quantity": 2}], "name": "Ada", **fields}
    now = datetime.now(UTC)
    started = now.replace(microsecond=now.microsecond // 1000 * 1000)  # logs keep milliseconds
    answer = httpx.post(
        demo.run["shop_url"] + "/api/checkout",
        json=body,
        headers={"X-OpenReplay-SessionToken": token},
        timeout=30,
    )
    return answer, started, datetime.now(UTC)


def _start_session(demo: Demo) -> httpx.Response:
    return httpx.post(
        demo.run["replaylink_url"] + "/ingest/v1/sessions",
        json={"projectKey": demo.run["project_key"], "url": demo.run["shop_url"] + "/"},
        timeout=60,
    )


def _log_documents(demo: Demo, token: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{demo.run['log_store_url']}/{demo.run['index']}/_search",
        json={"size": 100, "query": {"match_phrase": {"message": f"openReplaySessionToken={token}"}}},
    ).json()
    return [hit["_source"] for hit in answer["hits"]["hits"]]


@pytest.mark.parametrize("mode", ["sdk", "seed"])
def test_shop_failures_land_on_the_session_and_stop_leaves_nothing(tmp_path: Path, mode: str) -> None:
    with running_demo(tmp_path, "--snippet-mode", mode) as demo:
        api = demo.api
        started = httpx.post(
            demo.run["replaylink_url"] + "/ingest/v1/sessions",
            json={"projectKey": demo.run["project_key"], "url": demo.run["shop_url"] + "/checkout"},
            headers={"Origin": demo.run["shop_url"]},
        ).json()
        token, session_id = started["token"], started["sessionId"]
        # Browsers start sessions at once: on SQLite none of them may fail on the write lock.
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: _start_session(demo).status_code, range(48)))
        assert codes == [200] * 48
        spans = {}
        for exception, fields in FAILURES.items():
            answer, began, ended = _checkout(demo, token, **fields)
            assert answer.status_code in (402, 500, 504), answer.text
            assert answer.json()["error"]["message"]
            spans[exception] = (began, ended)
        ok, _, _ = _checkout(demo, token, card_number=GOOD_CARD)
        assert ok.status_code == 200 and ok.json()["order_id"]
        untracked, _, _ = _checkout(demo, "not a token", card_number=DECLINED_CARD)
        assert untracked.status_code == 402

        # The log store holds the seed page's format: the marker in `message`, `utc_time`, `tags`.
        docs = wait_for(
            lambda: [d for d in _log_documents(demo, token) if "error" in d["tags"]] or None, 10, "error logs"
        )
        assert len(docs) == 3
        for doc in docs:
            assert doc["message"].startswith(f"[openReplaySessionToken={token}] checkout failed")
            assert datetime.fromisoformat(doc["utc_time"]).tzinfo is not None
            assert doc["tags"] == ["error"]
        messages = "\n".join(doc["message"] for doc in docs)
        for exception in FAILURES:
            assert exception in messages
        if mode == "seed":  # the snippet also marks the exception line itself
            assert f"ZeroDivisionError: [openReplaySessionToken={token}] float division by zero" in messages

        # ReplayLink's importer finds them by polling the store, and puts them on the session.
        def imported() -> list[dict[str, Any]] | None:
            detail = api.get(f"/api/v1/projects/{demo.run['project_id']}/sessions/{session_id}").json()
            return detail["events"] if detail["backend_events"] >= 3 else None

        events = wait_for(imported, 60, "the imported backend errors")
        assert len(events) == 3
        by_type = {event["exception_type"].rsplit(".", 1)[-1]: event for event in events}
        assert set(by_type) == set(FAILURES)
        for exception, (began, ended) in spans.items():
            event = by_type[exception]
            assert event["provider"] == "elasticsearch" and event["level"] == "error"
            assert began <= datetime.fromisoformat(event["timestamp"]) <= ended
            assert event["offset_ms"] >= 0 and event["outside_session"] is False
            assert f"openReplaySessionToken={token}" not in event["title"]
        integration = api.get(
            f"/api/v1/projects/{demo.run['project_id']}/integrations/{demo.run['integration']}"
        ).json()
        assert integration["health"]["status"] == "ok"
        assert integration["settings"]["host"] == demo.run["log_store_url"]

        assert len(demo.watch()) >= 3  # log store, ReplayLink, shop
        assert demo.stop(signal.SIGTERM) == 0
        assert "nothing it started is running" in demo.log()
        assert wait_for(lambda: not demo.left_running() or None, 5, "the demo's processes to end", 0.1)


def test_sigkill_of_the_demo_still_ends_its_processes(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        assert len(demo.watch()) >= 3
        demo.stop(signal.SIGKILL)
        wait_for(lambda: not demo.left_running() or None, 15, "the orphaned processes to end", 0.1)


def test_restart_keeps_the_sign_in(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        first = demo.account
        assert demo.stop(signal.SIGINT) == 0
    with running_demo(tmp_path) as demo:
        assert demo.account == first
        assert demo.stop() == 0


def test_reset_empties_a_demo_directory(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    account = bootstrap.prepare(bootstrap.DemoSettings(data_dir=demo_dir))
    assert (demo_dir / "demo.json").exists() and account.email == bootstrap.EMAIL
    bootstrap.reset(demo_dir)
    assert not demo_dir.exists()
    again = bootstrap.prepare(bootstrap.DemoSettings(data_dir=demo_dir))
    assert again.password != account.password and again.api_key != account.api_key


def test_a_port_in_use_gets_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(BIN), "demo", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            capture_output=True,
            text=True,
            env=demo_env(),
            timeout=60,
        )
    assert done.returncode == 1
    assert f"Port {port} on 127.0.0.1 (ReplayLink) is already in use" in done.stderr
    assert "--port" in done.stderr
    assert not (tmp_path / "d").exists()


def test_reset_refuses_a_directory_that_is_not_a_demo(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(bootstrap.DemoError, match="not a demo directory"):
        bootstrap.reset(precious)
    assert (precious / "thesis.txt").exists()
    done = subprocess.run(
        [str(BIN), "demo", "--data-dir", str(precious), "--reset"],
        capture_output=True,
        text=True,
        env=demo_env(),
        timeout=60,
    )
    assert done.returncode == 1 and "not a demo directory" in done.stderr
    assert (precious / "thesis.txt").exists()
    # Nor is it used as the demo's directory: nothing is migrated or generated there.
    done = subprocess.run(
        [str(BIN), "demo", "--data-dir", str(precious)],
        capture_output=True,
        text=True,
        env=demo_env(),
        timeout=60,
    )
    assert done.returncode == 1 and "not created by the demo" in done.stderr
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.txt"]


def test_simulate_without_chromium_says_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(BIN),
            "demo",
            "--data-dir",
            str(tmp_path / "d"),
            "--simulate",
            "1",
            "--chromium",
            "/nonexistent",
        ],
        capture_output=True,
        text=True,
        env=demo_env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert "/nonexistent" in done.stderr and "apt-get install chromium" in done.stderr


def test_the_seed_snippet_is_the_seed_pages_code_verbatim() -> None:
    from importlib import resources

    module = (resources.files("replaylink.demo") / "seed_snippet.py").read_text()
    ours = module.split("# ---- the seed page's snippet starts here ----\n", 1)[1]
    assert "sys.stderr = F()" in ours and "traceback.print_exception = tb_print_exception" in ours
    page = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "004_0931240ff65ede01.txt"
    if not page.exists():
        pytest.skip(f"the seed documents are not next to this checkout ({page.parent})")
    text = page.read_text()
    start = text.index("```Python\n") + len("```Python\n")
    assert ours == text[start : text.index("```", start)]
