"""The dashboard's files at /: index fallback, caching, Content-Security-Policy, reserved paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from replaylink.api import webui


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "webui"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app-1a2b.js"></script>'
    )
    (root / "assets" / "app-1a2b.js").write_text("console.log(1)")
    monkeypatch.setattr(webui, "WEBUI_DIR", root)
    yield root


def test_client_routes_get_index_without_caching_and_with_a_strict_csp(
    client: TestClient, built: Path
) -> None:
    for path in ("/", "/projects/1/sessions/123?t=5000", "/login", "/index.html"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.text.startswith("<!doctype html>")
        assert answer.headers["cache-control"] == "no-cache"
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no external host
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_immutable(client: TestClient, built: Path) -> None:
    answer = client.get("/assets/app-1a2b.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/assets/missing-0000.js").status_code == 404
    assert client.get("/favicon.png").status_code == 404  # a missing file is not the app


def test_server_paths_are_never_shadowed(client: TestClient, built: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "ReplayLink"
    for path in ("/api/v1/nothing", "/ingest/v1/nothing", "/static/nothing.js", "/metrics/x", "/docs/x"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "error" in answer.json(), path
    assert client.get("/api/v1/projects").status_code == 401


def test_no_path_escapes_the_build(client: TestClient, built: Path) -> None:
    (built.parent / "secret.txt").write_text("nope")
    for path in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        assert "nope" not in client.get(path).text


def test_unbuilt_dashboard_says_how_to_build_it(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webui, "WEBUI_DIR", tmp_path / "none")
    answer = client.get("/")
    assert answer.status_code == 404
    assert "make run" in answer.json()["error"]["message"]
