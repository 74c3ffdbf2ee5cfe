"""`GET /static/tracker.js`: the built IIFE, CORS-safe for any page, gzip, ETag revalidation."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

BUILT = Path(__file__).resolve().parents[1] / "src" / "replaylink" / "static" / "tracker.js"

pytestmark = pytest.mark.skipif(
    not BUILT.exists() and os.environ.get("CI", "").lower() != "true",
    reason="tracker not built (make tracker)",
)


def test_tracker_is_served_as_script_for_any_origin(client: TestClient) -> None:
    headers = {"Origin": "https://shop.example", "Accept-Encoding": "gzip"}
    res = client.get("/static/tracker.js", headers=headers)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/javascript")
    assert res.headers["access-control-allow-origin"] == "*"
    assert res.headers["cross-origin-resource-policy"] == "cross-origin"
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "max-age=" in res.headers["cache-control"] and "must-revalidate" in res.headers["cache-control"]
    assert res.headers["content-encoding"] == "gzip"
    assert res.content == BUILT.read_bytes()  # httpx decodes the gzip body


def test_plain_body_without_gzip_and_revalidation_by_etag(client: TestClient) -> None:
    plain = client.get("/static/tracker.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == BUILT.read_bytes()
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content
    etag = plain.headers["etag"]
    again = client.get("/static/tracker.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    changed = client.get("/static/tracker.js", headers={"If-None-Match": '"stale"'})
    assert changed.status_code == 200
