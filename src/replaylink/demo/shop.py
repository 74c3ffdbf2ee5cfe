"""The demo shop: pages with the tracker snippet, and a backend whose checkout fails on purpose.

Run by ``replaylink demo`` as ``python -m replaylink.demo.shop``. Its error logs go to OpenSearch
(:mod:`replaylink.demo.logstore`) with the session token put there by one of:

- ``--mode sdk`` (default): ``replaylink_sdk``'s ASGI middleware and ``logging.install()``;
- ``--mode seed``: the seed page's monkey patch (:mod:`replaylink.demo.seed_snippet`), unchanged.
  Its token is a process global, so the seed-mode shop handles one request at a time.

It never calls ReplayLink: the browser talks to ReplayLink through the tracker, and ReplayLink
reads the errors from the log store.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import sys
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StringConstraints
from starlette.types import ASGIApp, Receive, Scope, Send

from replaylink.demo import catalogue, pages
from replaylink.demo.logstore import INDEX, LogShipper, OpenSearchHandler, ShippedStream

log = logging.getLogger("demo.shop")
Mode = Literal["sdk", "seed"]
HEADER = "x-openreplay-sessiontoken"
TOKEN_RE = re.compile(r"[0-9A-Za-z.]{16,99}")


class Line(BaseModel):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    quantity: int = Field(ge=1, le=99)


class CheckoutIn(BaseModel):
    items: list[Line] = Field(min_length=1, max_length=50)
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    card_number: Annotated[str, StringConstraints(min_length=1, max_length=25)]
    shipping: Literal["standard", "express"] = "standard"
    split_between: int = Field(1, ge=0, le=20)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": []}}, status_code=status)


def create_shop(ctx: pages.PageContext) -> FastAPI:
    """The shop's ASGI app (without the token middleware, which :func:`wrap` adds per mode)."""
    app = FastAPI(title="ReplayLink demo shop", docs_url=None, redoc_url=None, openapi_url=None)
    order_ids = itertools.count(1001)
    static = resources.files("replaylink.demo") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    for page, (path, _title) in pages.PAGES.items():

        def view(page: str = page) -> HTMLResponse:
            html, csp = pages.render(page, ctx)
            return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})

        app.add_api_route(path, view, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "mode": ctx.mode}

    @app.get("/api/products")
    def products() -> dict[str, Any]:
        return {
            "products": [
                {"sku": p.sku, "name": p.name, "price": f"{p.price:.2f}", "blurb": p.blurb}
                for p in catalogue.PRODUCTS
            ]
        }

    @app.post("/api/checkout", response_model=None)
    async def checkout(body: CheckoutIn) -> JSONResponse | dict[str, Any]:
        order = f"A{next(order_ids)}"
        log.info("checkout started: order %s, %d line(s), %s shipping", order, len(body.items), body.shipping)
        try:
            total = catalogue.subtotal([(line.sku, line.quantity) for line in body.items])
            total += await catalogue.shipping_quote(body.shipping)
            share = catalogue.share_per_person(total, body.split_between)
            charge = catalogue.charge(body.card_number, total)
        except catalogue.UnknownProductError as exc:
            return _error(422, "unknown_product", f"{exc}; reload the catalogue.")
        except catalogue.PaymentDeclinedError as exc:
            log.exception("checkout failed: payment declined for order %s", order)
            return _error(402, "payment_declined", f"{exc}. Try another card.")
        except catalogue.CarrierTimeoutError:
            log.exception("checkout failed: shipping quote timed out for order %s", order)
            return _error(504, "carrier_timeout", "The shipping carrier did not answer; try Standard.")
        except ZeroDivisionError:
            log.exception("checkout failed: could not split the bill of order %s", order)
            return _error(500, "internal_error", "Something broke on our side while splitting the bill.")
        log.info("order %s paid (%s), %s each", order, charge, share)
        return {"order_id": order, "total": f"{total:.2f}", "each": f"{share:.2f}"}

    return app


class SeedTokenMiddleware:
    """Seed mode: set the snippet's ``OPENREPLAY_SESSION_TOKEN`` for each request, one at a time.

    The snippet keeps the token in a module global, so two requests at once would mix their
    tokens; a lock serialises them. Only values that look like a token are used.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from replaylink.demo import seed_snippet

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        token = raw if TOKEN_RE.fullmatch(raw) else None
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            seed_snippet.OPENREPLAY_SESSION_TOKEN = token
            try:
                await self.app(scope, receive, send)
            finally:
                seed_snippet.OPENREPLAY_SESSION_TOKEN = None


def install_logging(mode: Mode, shipper: LogShipper) -> None:
    """Route the shop's logs to the log store, with the token written by the SDK or the snippet."""
    console = logging.StreamHandler(sys.__stdout__)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(console)
    if mode == "sdk":
        import replaylink_sdk.logging

        replaylink_sdk.logging.install()
        shipped: logging.Handler = OpenSearchHandler(shipper)
    else:
        # The snippet keeps the stdout it finds as ``old_f``: make that the shipped stream first.
        sys.stdout = ShippedStream(shipper, echo=None)
        from replaylink.demo import seed_snippet  # noqa: F401 - importing applies the patch

        shipped = logging.StreamHandler(sys.stderr)  # the snippet's F(): prefixes, writes to old_f
        shipped.setLevel(logging.ERROR)
    shipped.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(shipped)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def wrap(app: FastAPI, mode: Mode) -> ASGIApp:
    """The app behind the token middleware of ``mode`` (outermost, as the SDK's README says)."""
    if mode == "sdk":
        from replaylink_sdk.asgi import SessionTokenMiddleware

        return SessionTokenMiddleware(app)
    return SeedTokenMiddleware(app)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m replaylink.demo.shop", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replaylink-url", required=True, help="Where the tracker script and ingest are.")
    parser.add_argument("--project-key", required=True)
    parser.add_argument("--log-store-url", required=True, help="The OpenSearch URL for the error logs.")
    parser.add_argument("--index", default=INDEX)
    parser.add_argument("--mode", choices=["sdk", "seed"], default="sdk")
    args = parser.parse_args(argv)
    shipper = LogShipper(args.log_store_url, args.index)
    install_logging(args.mode, shipper)
    ctx = pages.PageContext(args.replaylink_url.rstrip("/"), args.project_key, args.mode)
    app = wrap(create_shop(ctx), args.mode)
    try:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    finally:
        shipper.close()


if __name__ == "__main__":
    main()
