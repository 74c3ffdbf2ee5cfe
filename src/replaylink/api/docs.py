"""Interactive API docs at ``/docs`` (Swagger UI) and ``/redoc``, served without the internet.

FastAPI's own pages load their scripts from a CDN, so they are blank offline and under a strict
Content-Security-Policy. These pages load the same bundles from the ``fastapi-offline`` package at
``/docs/static/``, and carry their own CSP: this server only, plus a per-response nonce for Swagger
UI's one inline start-up script (ReDoc needs ``blob:`` workers).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs/static"

router = APIRouter(include_in_schema=False)


def docs_csp(script_nonce: str | None = None) -> str:
    """The docs pages' policy: nothing from other hosts, no plugins, no framing."""
    scripts = "script-src 'self'" + (f" 'nonce-{script_nonce}'" if script_nonce else "")
    return "; ".join(
        [
            "default-src 'self'",
            scripts,
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # never sends the schema to swagger.io
    )
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers=_headers(docs_csp(nonce)))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    return HTMLResponse(bytes(page.body).decode(), headers=_headers(docs_csp()))


def install_docs(app: FastAPI) -> None:
    """Serve the pages and their assets (create the app with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
