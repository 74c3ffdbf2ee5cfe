"""``GET /static/tracker.js``: the tracker's IIFE for the snippet, built from tracker/ into the package.

Served CORS-safe for a plain (or ``crossorigin``) script tag on any site, gzip when the browser accepts it,
cached for a few minutes and revalidated by ETag so a new tracker reaches pages soon after an upgrade.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request, Response

from replaylink.api.errors import ApiError

router = APIRouter(include_in_schema=False)

CACHE_CONTROL = "public, max-age=300, must-revalidate"


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes
    etag: str
    mtime_ns: int


_cache: dict[str, _Asset] = {}


def _tracker_asset() -> _Asset | None:
    """The built IIFE, read once per build (a rebuild while serving is picked up by its mtime)."""
    path = resources.files("replaylink") / "static" / "tracker.js"
    try:
        with resources.as_file(path) as real:
            mtime = real.stat().st_mtime_ns
            cached = _cache.get("tracker.js")
            if cached is not None and cached.mtime_ns == mtime:
                return cached
            body = real.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    digest = hashlib.sha256(body).hexdigest()[:20]
    asset = _Asset(body, gzip.compress(body, 9, mtime=0), f'"{digest}"', mtime)
    _cache["tracker.js"] = asset
    return asset


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.api_route("/static/tracker.js", methods=["GET", "HEAD"])
def tracker_js(request: Request) -> Response:
    """The tracker for the snippet (``<script async src=".../static/tracker.js">``)."""
    asset = _tracker_asset()
    if asset is None:
        raise ApiError(
            404,
            "tracker_not_built",
            "The browser tracker is not built into this installation: run `make tracker` "
            "(npm ci and the esbuild build in tracker/), or install a wheel that includes it.",
        )
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), asset.etag):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
