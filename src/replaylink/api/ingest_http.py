"""What the ingest routers share: the batch path and the CORS headers answered to the tracker."""

from __future__ import annotations

BATCHES_PATH = "/ingest/v1/batches"


def cors_headers(origin: str | None) -> dict[str, str]:
    """Let the page at ``origin`` read the answer (whether it may write is the endpoint's decision)."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
