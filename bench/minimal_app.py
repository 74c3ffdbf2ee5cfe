"""The yardstick of ``bench.session_starts``: a minimal Starlette app served like ``replaylink serve``.

``python -m bench.minimal_app --port N`` runs one uvicorn process with the options
``replaylink serve`` passes (host, port, ``log_level`` from the same setting, so the access log
is on at the default ``info`` too). Its one route reads a JSON body and answers a JSON object of
the size of a session start's answer: the floor any framework-based endpoint pays per request.
"""

from __future__ import annotations

import argparse
import secrets
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from replaylink.api.ingest_http import BATCHES_PATH


async def start(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(
        {
            "sessionId": str(secrets.randbits(62)),
            "token": secrets.token_urlsafe(60),
            "projectId": 1,
            "url": body.get("url", ""),
            "serverTime": time.time_ns() // 1_000_000,
            "batch": {"url": BATCHES_PATH, "flushIntervalMs": 5000},
        }
    )


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/ingest/v1/sessions", start, methods=["POST"]), Route("/healthz", healthz)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
