"""``replaylink demo``: start the log store, ReplayLink, the shop (and a simulation); stop them all.

Order: osmem-server (the log store) -> the demo directory (schema, project, sign-in) -> the
Elasticsearch integration, saved through the integration service the API uses (so it is checked
against the store like a user's) -> ``replaylink serve`` with its importer -> the shop ->
optional simulated sessions.
Whatever happens (Ctrl-C, SIGTERM, SIGHUP, a child that dies, an error), every process started is
stopped before this returns (:class:`replaylink.demo.processes.Supervisor`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import httpx

from replaylink.config import environment_without_settings
from replaylink.demo import bootstrap, logstore
from replaylink.demo.bootstrap import DemoError
from replaylink.demo.ports import HOST, PortInUse, claim_port
from replaylink.demo.processes import Child, Supervisor, become_subreaper

DEFAULT_DATA_DIR = Path("./replaylink-demo")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
INTEGRATION = "demo-logs"
RUN_FILE = "run.json"
SIMULATION_FILE = "simulation.json"
STARTUP_TIMEOUT = 60.0
SnippetMode = Literal["sdk", "seed"]


@dataclass
class DemoOptions:
    data_dir: Path = DEFAULT_DATA_DIR
    port: int | None = None
    shop_port: int | None = None
    log_store_port: int | None = None
    snippet_mode: SnippetMode = "sdk"
    simulate: int = 0
    reset: bool = False
    poll_interval: float = 2.0
    chromium: str = DEFAULT_CHROMIUM


@dataclass
class Urls:
    replaylink: str
    shop: str
    log_store: str
    extra: dict[str, Any] = field(default_factory=dict)


class Stop(Exception):
    """A signal asked the demo to stop."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM, SIGHUP (and Ctrl-C's SIGINT) raise :class:`Stop`; restored afterwards."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """While stopping: a second Ctrl-C must not cut the cleanup short."""
    previous = {
        sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def preflight(options: DemoOptions) -> None:
    """Everything that can be checked before starting anything, each with what to do."""
    if importlib.util.find_spec("osmem_server") is None:
        raise DemoError(
            "The demo's log store osmem-server is not installed: pip install -e '.[demo]' -e sdk/python "
            "in the repository root (or run `make demo` there)."
        )
    if options.snippet_mode == "sdk" and importlib.util.find_spec("replaylink_sdk") is None:
        raise DemoError(
            "The shop's backend needs the Python SDK: pip install -e sdk/python (or run `make demo`), "
            "or pass --snippet-mode seed to use the seed page's snippet instead."
        )
    if options.simulate:
        if importlib.util.find_spec("playwright") is None:
            raise DemoError(
                "--simulate needs Playwright for Python: pip install -e '.[demo]' in the repository root "
                "(the browser itself is Debian's chromium package; no Playwright browser download is needed)."
            )
        if not (Path(options.chromium).is_file() and os.access(options.chromium, os.X_OK)):
            raise DemoError(
                f"--simulate drives Chromium at {options.chromium}, which is not there: "
                "apt-get install chromium or pass --chromium PATH, or leave --simulate out and shop yourself."
            )


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any REPLAYLINK_* setting, plus ``extra``."""
    env = environment_without_settings()
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(options: DemoOptions, say: Callable[[str], None]) -> int:
    """Run the demo until a signal; 0 after a clean stop, 1 when a part failed."""
    preflight(options)
    ports = {
        "replaylink": claim_port(options.port, "--port", "ReplayLink"),
        "shop": claim_port(options.shop_port, "--shop-port", "the demo shop"),
    }
    if options.log_store_port is not None:
        claim_port(options.log_store_port, "--log-store-port", "the log store")
    if options.reset:
        bootstrap.reset(options.data_dir)
    data_dir = options.data_dir.resolve()
    bootstrap.claim(data_dir)
    become_subreaper()
    supervisor = Supervisor(data_dir / "logs")
    (data_dir / RUN_FILE).unlink(missing_ok=True)
    try:
        with _signals_stop():
            return _run(options, data_dir, ports, supervisor, say)
    except Stop as stop:
        say(f"\n{stop.args[0]}: stopping the demo")
        return 0
    finally:
        with _signals_ignored():
            supervisor.stop_all()
            (data_dir / RUN_FILE).unlink(missing_ok=True)
        say("demo stopped; nothing it started is running")


def _run(
    options: DemoOptions,
    data_dir: Path,
    ports: dict[str, int],
    supervisor: Supervisor,
    say: Callable[[str], None],
) -> int:
    say(f"starting the ReplayLink demo in {data_dir} (logs in {data_dir / 'logs'})")
    log_store_url, log_store = _start_log_store(supervisor, options.log_store_port)
    logstore.ensure_index(log_store_url)
    settings = bootstrap.DemoSettings(data_dir=data_dir, settle_seconds=1.0)
    account = bootstrap.prepare(settings)
    sent = {"host": log_store_url, "indexes": logstore.INDEX}
    bootstrap.configure_log_store(settings, account, INTEGRATION, sent, options.poll_interval)

    replaylink_url = f"http://{HOST}:{ports['replaylink']}"
    serve = supervisor.start(
        "replaylink",
        [sys.executable, "-c", "from replaylink.cli import main; main()", "serve",
         "--host", HOST, "--port", str(ports["replaylink"])],
        clean_env(REPLAYLINK_DATA_DIR=str(data_dir), REPLAYLINK_SETTLE_SECONDS="1",
                  REPLAYLINK_LOG_LEVEL="warning"),
    )  # fmt: skip
    _wait_http(serve, replaylink_url + "/readyz", "ReplayLink")
    if httpx.get(replaylink_url + "/static/tracker.js", timeout=10).status_code != 200:
        message = (
            "ReplayLink serves no /static/tracker.js: the tracker bundle is not built (run `make tracker`; "
            "`make demo` does it), so the shop's pages record nothing."
        )
        if options.simulate:
            raise DemoError(message)
        say("warning: " + message)

    shop_url = f"http://{HOST}:{ports['shop']}"
    shop = supervisor.start(
        "shop",
        [sys.executable, "-m", "replaylink.demo.shop", "--port", str(ports["shop"]),
         "--replaylink-url", replaylink_url, "--project-key", account.project_key,
         "--log-store-url", log_store_url, "--mode", options.snippet_mode],
        clean_env(),
    )  # fmt: skip
    _wait_http(shop, shop_url + "/healthz", "the demo shop")
    essential = [log_store, serve, shop]
    urls = Urls(replaylink_url, shop_url, log_store_url)
    _write_run_file(data_dir, urls, account, options)
    _announce(say, urls, account, options)

    simulation: Child | None = None
    if options.simulate:
        (data_dir / SIMULATION_FILE).unlink(missing_ok=True)
        simulation = supervisor.start(
            "simulate",
            [sys.executable, "-m", "replaylink.demo.simulate", "--shop-url", shop_url,
             "--sessions", str(options.simulate), "--chromium", options.chromium,
             "--out", str(data_dir / SIMULATION_FILE)],
            clean_env(),
        )  # fmt: skip
        say(f"simulating {options.simulate} shopping session(s) in Chromium…")
    while True:
        for child in essential:
            if child.process.poll() is not None:
                say(f"error: {child.name} exited with code {child.process.returncode}:\n{child.log_tail()}")
                return 1
        if simulation is not None and simulation.process.poll() is not None:
            _report_simulation(say, simulation, data_dir, urls, account)
            simulation = None
        supervisor.reap_orphans()
        time.sleep(0.3)


def _start_log_store(supervisor: Supervisor, port: int | None) -> tuple[str, Child]:
    """osmem-server on 127.0.0.1 (a free port unless given); it also exits when the demo dies."""
    from osmem_server import resolve_binary

    argv = [resolve_binary(), "--addr", f"{HOST}:{port or 0}", "--no-ja", "--parent-pid", str(os.getpid())]
    # stdin stays open as a pipe: osmem-server exits when it closes, i.e. when the demo is gone.
    child = supervisor.start("log-store", argv, clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.process.stdout is not None
    stream = child.process.stdout
    deadline = time.monotonic() + 30
    buffer = b""
    while time.monotonic() < deadline and b"\n" not in buffer:
        if child.process.poll() is not None:
            raise DemoError(f"osmem-server exited at start:\n{child.log_tail()}")
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    try:
        url = str(json.loads(line)["url"])
    except (ValueError, KeyError, TypeError):
        raise DemoError(f"osmem-server did not report its address:\n{child.log_tail()}") from None

    def drain() -> None:  # keep reading so it never blocks on a full pipe
        with child.log_path.open("ab") as log:
            log.write(rest)
            for chunk in iter(lambda: os.read(stream.fileno(), 4096), b""):
                log.write(chunk)

    threading.Thread(target=drain, name="log-store-output", daemon=True).start()
    return url.rstrip("/"), child


def _wait_http(child: Child, url: str, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise DemoError(f"{what} exited at start (code {child.process.returncode}):\n{child.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise DemoError(f"{what} did not answer {url} within {STARTUP_TIMEOUT:g} s:\n{child.log_tail()}")


def _write_run_file(data_dir: Path, urls: Urls, account: bootstrap.DemoAccount, options: DemoOptions) -> None:
    data = {
        "pid": os.getpid(),
        "replaylink_url": urls.replaylink,
        "dashboard_url": urls.replaylink + "/",
        "shop_url": urls.shop,
        "log_store_url": urls.log_store,
        "index": logstore.INDEX,
        "snippet_mode": options.snippet_mode,
        "project_id": account.project_id,
        "project_key": account.project_key,
        "integration": f"elasticsearch/{INTEGRATION}",
    }
    path = data_dir / RUN_FILE
    path.with_suffix(".tmp").write_text(json.dumps(data, indent=2))
    path.with_suffix(".tmp").replace(path)


def _announce(
    say: Callable[[str], None], urls: Urls, account: bootstrap.DemoAccount, options: DemoOptions
) -> None:
    mode = "the Python SDK" if options.snippet_mode == "sdk" else "the seed page's monkey-patch snippet"
    say(
        "\nThe ReplayLink demo is running. Ctrl-C stops everything it started.\n\n"
        f"  Dashboard  {urls.replaylink}/\n"
        f"             sign in as {account.email} / {account.password}\n"
        f"  Shop       {urls.shop}/  (tracker on every page; {mode} on its backend)\n"
        f"  Log store  {urls.log_store}/{logstore.INDEX}/_search  (osmem-server, OpenSearch API)\n"
        f"  API        curl -H 'Authorization: Bearer {account.api_key}' "
        f"{urls.replaylink}/api/v1/projects/{account.project_id}/sessions\n\n"
        "What to do: open the shop, add something to the cart and check out with the card "
        "4000 0000 0000 0002 (declined), Express shipping (the carrier times out) or the bill split "
        "between 0 people (division by zero). Then open the session in the dashboard: the backend "
        f"error is on the replay's timeline as soon as the importer's next poll (every "
        f"{options.poll_interval:g} s) has read it from the log store.\n"
    )


def _report_simulation(
    say: Callable[[str], None], child: Child, data_dir: Path, urls: Urls, account: bootstrap.DemoAccount
) -> None:
    if child.process.returncode != 0:
        say(f"the simulation failed (code {child.process.returncode}):\n{child.log_tail()}")
        return
    try:
        sessions = json.loads((data_dir / SIMULATION_FILE).read_text())["sessions"]
    except (OSError, ValueError, KeyError):
        say("the simulation ended without a report")
        return
    say(f"simulated {len(sessions)} session(s):")
    for item in sessions:
        page = f"{urls.replaylink}/projects/{account.project_id}/sessions/{item.get('session_id')}"
        say(f"  {item.get('scenario')}: checkout answered {item.get('status')}  {page}")


__all__ = ["DemoError", "DemoOptions", "PortInUse", "run"]
