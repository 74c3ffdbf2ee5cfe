"""A fresh `replaylink serve` on SQLite: bootstrap output, health, session start, token inspect."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers.common import free_port

BIN = Path(sys.executable).with_name("replaylink")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAYLINK_")}
    env.update(REPLAYLINK_DATA_DIR=str(tmp_path / "data"), REPLAYLINK_PORT=str(port), COLUMNS="200")
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--no-importer"], stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("serve did not start: " + log.read_text())
        yield base, log.read_text(), env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fresh_serve_bootstraps_and_issues_valid_tokens(server: tuple[str, str, dict[str, str]]) -> None:
    base, output, env = server
    project_key = re.search(r"project key for the tracker: (\S+)", output)
    admin_key = re.search(r"admin API key: (\S+)", output)
    assert project_key and admin_key, output
    assert httpx.get(base + "/readyz").json()["status"] == "ok"
    started = httpx.post(
        base + "/ingest/v1/sessions", json={"projectKey": project_key.group(1), "url": "https://x"}
    )
    assert started.status_code == 200
    projects = httpx.get(base + "/api/v1/projects", headers={"Authorization": f"Bearer {admin_key.group(1)}"})
    assert projects.json()[0]["project_key"] == project_key.group(1)
    inspect = subprocess.run(
        [str(BIN), "token", "inspect", started.json()["token"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "valid" in inspect.stdout
