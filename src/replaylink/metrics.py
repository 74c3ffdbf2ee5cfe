"""The process's Prometheus registry (served at ``GET /metrics``) and the counters several layers share.

The importer's own metrics live in :mod:`replaylink.importer.metrics`, on this registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

RATE_LIMIT_WAITS = Counter(
    "replaylink_rate_limit_waits",
    "Rate limits met (waited out inline or rescheduled).",
    ["provider"],
    registry=REGISTRY,
)
