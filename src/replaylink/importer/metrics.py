"""Prometheus metrics of the importer (served at ``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from replaylink.importer.correlate import ATTACHING, Correlation
from replaylink.metrics import REGISTRY
from replaylink.store.models import Integration

POLLS = Counter(
    "replaylink_polls", "Polls by provider and outcome.", ["provider", "outcome"], registry=REGISTRY
)
SCANNED = Counter("replaylink_records_scanned", "Provider records read.", ["provider"], registry=REGISTRY)
MATCHED = Counter(
    "replaylink_records_matched", "Records attached to a session.", ["provider"], registry=REGISTRY
)
REJECTED = Counter(
    "replaylink_records_rejected",
    "Record tokens not attached, by reason.",
    ["provider", "reason"],
    registry=REGISTRY,
)
IMPORTED = Counter(
    "replaylink_events_imported", "New backend events stored.", ["provider"], registry=REGISTRY
)
PROVIDER_LATENCY = Histogram(
    "replaylink_provider_request_seconds",
    "Time to read one window from a provider (all its pages).",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)


def count_correlation(provider: str, result: Correlation, imported: int) -> None:
    SCANNED.labels(provider).inc(result.scanned)
    IMPORTED.labels(provider).inc(imported)
    for reason, count in result.outcomes.items():
        if reason in ATTACHING:
            MATCHED.labels(provider).inc(count)
        else:
            REJECTED.labels(provider, reason).inc(count)


class LagCollector(Collector):
    """Lag per integration (now minus checkpoint), read from the database at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing to describe up front: registering must not touch the database."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "replaylink_integration_lag_seconds",
            "Now minus the integration's checkpoint.",
            labels=["project", "provider", "name"],
        )
        now = self.clock()
        with self.sessions() as db:
            rows = db.execute(
                select(
                    Integration.project_id, Integration.provider, Integration.name, Integration.checkpoint
                ).where(Integration.enabled.is_(True), Integration.paused.is_(False))
            ).all()
        for project_id, provider, name, checkpoint in rows:
            if checkpoint is not None:
                gauge.add_metric([str(project_id), provider, name], (now - checkpoint).total_seconds())
        yield gauge


_lag_registered: list[LagCollector] = []


def register_lag(sessions: sessionmaker[Session]) -> None:
    """Report lag from this process's database (once per process; the newest wins)."""
    for old in _lag_registered:
        REGISTRY.unregister(old)
    _lag_registered.clear()
    collector = LagCollector(sessions)
    REGISTRY.register(collector)
    _lag_registered.append(collector)
