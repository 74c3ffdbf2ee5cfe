"""``GET /metrics``: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from replaylink import metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def prometheus_metrics() -> Response:
    """Polls by outcome, records scanned/matched/rejected, lag per integration, provider latency."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
