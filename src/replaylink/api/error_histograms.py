"""``/api/v1/projects/{id}/backend-error-histograms``: event counts over time per error group."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from replaylink.api.deps import CallerDep, Db, visible_project
from replaylink.api.params import ProjectId
from replaylink.store.error_histograms import default_window, histograms

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["backend errors"])


class Histograms(BaseModel):
    start: datetime
    end: datetime
    buckets: int
    counts: dict[str, list[int]] = Field(description="Per fingerprint: events in each bucket, oldest first.")


@router.get("/backend-error-histograms", response_model=Histograms)
def error_histograms(
    project_id: ProjectId,
    db: Db,
    caller: CallerDep,
    fingerprint: Annotated[list[Annotated[str, Field(max_length=64)]], Query(max_length=200)],
    days: Annotated[int, Query(ge=1, le=90, description="How far back.")] = 14,
    buckets: Annotated[int, Query(ge=1, le=96)] = 28,
) -> Histograms:
    """Counts per bucket over the last ``days`` for the given groups (the Backend errors sparklines)."""
    visible_project(db, caller, project_id)
    start, end = default_window(datetime.now(UTC), days)
    wanted = list(dict.fromkeys(fingerprint))
    return Histograms(
        start=start, end=end, buckets=buckets, counts=histograms(db, project_id, wanted, start, end, buckets)
    )
