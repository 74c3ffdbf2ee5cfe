"""A fresh `replaylink serve` on SQLite: bootstrap output, health, session start, token inspect."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from replaylink.config import environment_without_settings
from tests.peers.common import free_port

BIN = Path(sys.executable).with_name("replaylink")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    port = free_port()
    env = environment_without_settings()
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
    assert f"curl -H 'Authorization: Bearer <admin API key>' {base}/api/v1/projects" in output
    assert f"ReplayLink listening on {base}" in output
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


def test_serve_with_workers_shares_one_port_on_sqlite(tmp_path: Path) -> None:
    port = free_port()
    env = environment_without_settings()
    env.update(REPLAYLINK_DATA_DIR=str(tmp_path / "data"), REPLAYLINK_PORT=str(port), COLUMNS="200")
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--no-importer", "--workers", "2"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # each worker logs its start (uvicorn, log level info)
            if log.read_text().count("Application startup complete") == 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("serve --workers 2 did not start two workers: " + log.read_text())
        project_key = re.search(r"project key for the tracker: (\S+)", log.read_text())
        admin_key = re.search(r"admin API key: (\S+)", log.read_text())
        assert project_key and admin_key, log.read_text()
        now_ms = int(time.time() * 1000)

        def record(tab: str) -> tuple[str, list[int]]:
            with httpx.Client(base_url=base) as http:
                started = http.post("/ingest/v1/sessions", json={"projectKey": project_key.group(1)}).json()
                statuses = [
                    http.post(
                        "/ingest/v1/batches",
                        json={"v": 1, "tab": tab, "seq": seq, "events": [{"type": 3, "timestamp": now_ms}]},
                        headers={"Authorization": f"Bearer {started['token']}"},
                    ).status_code
                    for seq in range(3)
                ]
                return started["sessionId"], statuses

        with ThreadPoolExecutor(max_workers=8) as pool:
            recorded = list(pool.map(record, [f"tab-{i}" for i in range(8)]))
        assert all(statuses == [204, 204, 204] for _, statuses in recorded)
        auth = {"Authorization": f"Bearer {admin_key.group(1)}"}
        for session_id, _ in recorded:
            manifest = httpx.get(f"{base}/api/v1/projects/1/sessions/{session_id}/replay", headers=auth)
            assert [s["seq"] for s in manifest.json()["segments"]] == [0, 1, 2]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_with_workers_refuses_to_run_the_importer_in_each(tmp_path: Path) -> None:
    env = environment_without_settings()
    env.update(REPLAYLINK_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")
    done = subprocess.run(
        [str(BIN), "serve", "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "--no-importer" in done.stderr and "replaylink worker" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything
