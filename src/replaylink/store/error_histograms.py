"""Events per time bucket for a few error groups: the sparklines of the Backend errors page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent


def histograms(
    db: Session, project_id: int, fingerprints: Sequence[str], start: datetime, end: datetime, buckets: int
) -> dict[str, list[int]]:
    """``{fingerprint: [count per bucket]}`` over ``[start, end)`` cut in ``buckets`` equal parts.

    One grouped query over the (project, fingerprint, timestamp) index, whatever the bucket count.
    """
    out = {f: [0] * buckets for f in fingerprints}
    if not fingerprints or buckets < 1 or end <= start:
        return out
    width = (end - start) / buckets
    edges = [start + width * i for i in range(buckets)] + [end]
    e = BackendEvent
    columns = [
        func.sum(case(((e.timestamp >= edges[i]) & (e.timestamp < edges[i + 1]), 1), else_=0))
        for i in range(buckets)
    ]
    query = (
        select(e.fingerprint, *columns)
        .where(
            e.project_id == project_id,
            e.fingerprint.in_(list(fingerprints)),
            e.timestamp >= start,
            e.timestamp < end,
        )
        .group_by(e.fingerprint)
    )
    for fingerprint, *counts in db.execute(query):
        out[fingerprint] = [int(c or 0) for c in counts]
    return out


def default_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """``days`` whole days ending at the next hour boundary after ``now``."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - timedelta(days=days), end
