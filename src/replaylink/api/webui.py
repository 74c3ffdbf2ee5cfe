"""The dashboard: the built single-page app at ``/``, with an ``index.html`` fallback for its routes.

Hashed assets (``/assets/*``) are cached for a year as immutable; ``index.html`` is never cached,
so a new release is picked up on the next load. Every answer carries a strict
Content-Security-Policy: scripts only from this server, no external hosts, no plugins, and the
replay's iframe (about:blank, sandboxed without scripts) inherits it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from replaylink.api.errors import error_body

WEBUI_DIR = Path(__file__).resolve().parent.parent / "webui"
RESERVED = ("api", "ingest", "static", "docs", "redoc", "openapi.json", "metrics", "healthz", "readyz")
"""First path segments that belong to the server: never answered with the app."""

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # The replay rebuilds recorded pages' <style> elements and style attributes.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "frame-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)


def _not_built() -> Response:
    return JSONResponse(
        error_body(
            "dashboard_not_built",
            "The dashboard is not built: run `make run` (it builds web/ with npm), or install the wheel.",
        ),
        status_code=404,
    )


def _file(path: Path, cache: str) -> FileResponse:
    return FileResponse(path, headers={**SECURITY_HEADERS, "Cache-Control": cache})


@router.get("/{path:path}")
def dashboard(path: str, request: Request) -> Response:
    """A built file when one matches, else ``index.html`` for the app's own routes."""
    first = path.split("/", 1)[0]
    if first in RESERVED:
        return JSONResponse(error_body("not_found", f"Nothing at /{path[:200]}."), status_code=404)
    root = WEBUI_DIR
    index = root / "index.html"
    if not index.is_file():
        return _not_built()
    if path and path != "index.html":
        candidate = (root / path).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            cache = IMMUTABLE if path.startswith("assets/") else "no-cache"
            return _file(candidate, cache)
        if first == "assets" or "." in path.rsplit("/", 1)[-1]:
            return JSONResponse(error_body("not_found", f"No file /{path[:200]}."), status_code=404)
    return _file(index, "no-cache")
