"""/docs and /redoc work without the internet: every asset is local, served, and allowed by the page's CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from replaylink.api.app import create_app
from replaylink.runtime import Runtime
from tests.conftest import make_settings


@pytest.fixture
def docs_client(tmp_path: Path) -> Iterator[TestClient]:
    runtime = Runtime(make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        yield TestClient(create_app(runtime))
    finally:
        runtime.close()


def references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html) + re.findall(
        r"""url: ?["']([^"']+)["']""", html
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets_which_are_served(docs_client: TestClient, page: str) -> None:
    response = docs_client.get(page)
    assert response.status_code == 200
    html = response.text
    refs = references(html)
    assert "/openapi.json" in refs
    assert len(refs) >= 3, refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = docs_client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 0
    assert "cdn" not in html.lower() and "https://" not in html and "http://" not in html
    csp = response.headers["content-security-policy"]
    assert "http" not in csp and "*" not in csp
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_swagger_ui_inline_script_carries_the_csp_nonce(docs_client: TestClient) -> None:
    first, second = docs_client.get("/docs"), docs_client.get("/docs")
    nonce = re.search(r"'nonce-([^']+)'", first.headers["content-security-policy"])
    assert nonce is not None
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", first.text)
    assert inline == [f' nonce="{nonce.group(1)}"']
    assert nonce.group(1) not in second.text  # a fresh nonce per response
    script_src = first.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_src


def test_docs_assets_are_javascript_and_css(docs_client: TestClient) -> None:
    js = docs_client.get("/docs/static/swagger-ui-bundle.js")
    css = docs_client.get("/docs/static/swagger-ui.css")
    assert "javascript" in js.headers["content-type"] and "SwaggerUIBundle" in js.text
    assert css.headers["content-type"].startswith("text/css")
    assert docs_client.get("/docs/static/nothing.js").status_code == 404
