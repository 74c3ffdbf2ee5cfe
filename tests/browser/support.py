"""Browser-test plumbing usable without pytest (benchmarks use it too): Chromium's launch settings, a
`replaylink serve` subprocess on a free port, and plain HTTP servers standing for other origins."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from replaylink.config import environment_without_settings
from replaylink.demo.simulate import CHROMIUM_ARGS as CHROMIUM_ARGS  # one launch flag list (re-exported)
from tests.peers.common import free_port

CHROMIUM = os.environ.get("REPLAYLINK_TEST_CHROMIUM", "/usr/bin/chromium")
BIN = Path(sys.executable).with_name("replaylink")
STATIC_TRACKER = Path(__file__).resolve().parents[2] / "src" / "replaylink" / "static" / "tracker.js"


@dataclass
class ReplayLinkServer:
    """A running `replaylink serve`: its base URL, bootstrap secrets and environment (for CLI calls)."""

    base_url: str
    project_key: str
    project_id: int
    admin_key: str
    admin_password: str
    env: dict[str, str]
    data_dir: Path
    log: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the `replaylink` CLI against this server's database and keys."""
        return subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the JSON API with the bootstrap admin key."""
        headers = {"Authorization": f"Bearer {self.admin_key}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)


def start_replaylink(
    tmp: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], ReplayLinkServer]:
    """Start `replaylink serve --no-importer` on a free port with its data in ``tmp``; wait until healthy."""
    port = free_port()
    env = environment_without_settings()
    env.update(REPLAYLINK_DATA_DIR=str(tmp / "data"), REPLAYLINK_PORT=str(port), COLUMNS="200")
    env.update(extra_env or {})
    log = tmp / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--no-importer"], stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("replaylink serve did not start:\n" + log.read_text())
        time.sleep(0.05)
    output = log.read_text()
    found = {
        name: re.search(pattern, output)
        for name, pattern in {
            "project_key": r"project key for the tracker: (\S+)",
            "project_id": r"project 'Default' \(id (\d+)\)",
            "admin_key": r"admin API key: (\S+)",
            "admin_password": r"admin sign-in: admin@localhost / (\S+)",
        }.items()
    }
    missing = [name for name, match in found.items() if match is None]
    if missing:
        proc.kill()
        raise RuntimeError(f"replaylink serve printed no {missing}:\n{output}")
    values = {name: match.group(1) for name, match in found.items() if match is not None}
    server = ReplayLinkServer(
        base_url=base,
        project_key=values["project_key"],
        project_id=int(values["project_id"]),
        admin_key=values["admin_key"],
        admin_password=values["admin_password"],
        env=env,
        data_dir=tmp / "data",
        log=log,
    )
    return proc, server


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class OriginServer:
    """A plain HTTP server standing for one origin: serves fixed routes, records every request it saw."""

    base_url: str
    routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = field(default_factory=dict)
    seen: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(
        self,
        path: str,
        body: str | bytes | dict[str, Any] | list[Any],
        *,
        status: int = 200,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` at ``path`` (dicts and lists as JSON); returns the full URL."""
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data, ctype = body.encode(), "text/html; charset=utf-8"
        else:
            data, ctype = body, "application/octet-stream"
        self.routes[path] = (status, content_type or ctype, data, headers or {})
        return self.base_url + path

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self.lock:
            return [r for r in self.seen if r.path.split("?")[0] == path]


def _handler(state: OriginServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with state.lock:
                state.seen.append(
                    SeenRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
            status, ctype, data, extra = state.routes.get(
                self.path.split("?")[0], (404, "text/plain", b"not found", {})
            )
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve_origin() -> tuple[OriginServer, ThreadingHTTPServer]:
    """An :class:`OriginServer` on its own port of 127.0.0.1, in a daemon thread (shut it down after)."""
    port = free_port()
    state = OriginServer(base_url=f"http://127.0.0.1:{port}")
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state, httpd
