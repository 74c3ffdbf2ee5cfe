"""``/api/v1/projects/{id}/backend-errors``: errors grouped by fingerprint, and the sessions each hurt."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from replaylink.api.answers import json_answer
from replaylink.api.deps import CallerDep, Db, RuntimeDep, visible_project
from replaylink.api.errors import not_found
from replaylink.api.params import (
    DEFAULT_LIMIT,
    Cursor,
    Fingerprint,
    Limit,
    ProjectId,
    ProviderFilter,
    SearchText,
    Since,
    Until,
    bad_cursor,
)
from replaylink.api.session_list import SessionList, session_list
from replaylink.api.timeline import EventOut, imported_event
from replaylink.store import error_groups, keyset
from replaylink.store.models import RecordedSession
from replaylink.store.sessions_query import SessionFilters

router = APIRouter(prefix="/api/v1/projects/{project_id}/backend-errors", tags=["backend errors"])


class ErrorGroupOut(BaseModel):
    fingerprint: str
    provider: str | None = Field(description="The sample's provider.")
    title: str | None = Field(description="The sample's title.")
    count: int = Field(description="Events in the group (within the filters).")
    sessions: int = Field(description="Distinct sessions affected.")
    first_seen: datetime
    last_seen: datetime
    sample: EventOut | None = Field(description="The group's latest event.")
    estimated: bool = Field(
        default=False,
        description="With a text search (`q`) matching many events: `count`, `sessions`, `first_seen` "
        "and `last_seen` are estimated from a fixed sample of the events, or of the events the text "
        "index gives for the rarest words of `q` (the groups are ranked by the estimate; a group none "
        "of whose sampled events matches is not listed). False: exact.",
    )


class ErrorGroupList(BaseModel):
    groups: list[ErrorGroupOut] = Field(description="Most frequent first.")
    next_cursor: str | None


@router.get("", response_model=ErrorGroupList)
def list_groups(
    project_id: ProjectId,
    db: Db,
    caller: CallerDep,
    since: Since = None,
    until: Until = None,
    provider: ProviderFilter = None,
    text: SearchText = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Backend errors grouped by fingerprint: count, sessions affected, first and last seen, a sample."""
    visible_project(db, caller, project_id)
    filters = error_groups.GroupFilters(start=since, end=until, provider=provider, text=text)
    try:
        page = error_groups.list_groups(db, project_id, filters, limit=limit, cursor=cursor)
    except keyset.InvalidCursor:
        raise bad_cursor() from None
    session_ids = {g.sample.session_id for g in page.items if g.sample is not None}
    sessions = {
        row.id: row for row in db.scalars(select(RecordedSession).where(RecordedSession.id.in_(session_ids)))
    }
    answer = ErrorGroupList(
        groups=[
            ErrorGroupOut(
                fingerprint=g.fingerprint,
                provider=g.sample.provider if g.sample else None,
                title=g.sample.title if g.sample else None,
                count=g.count,
                sessions=g.sessions,
                first_seen=g.first_seen,
                last_seen=g.last_seen,
                sample=imported_event(g.sample, sessions.get(g.sample.session_id)) if g.sample else None,
                estimated=g.estimated,
            )
            for g in page.items
        ],
        next_cursor=page.next_cursor,
    )
    return json_answer(answer)


@router.get("/{fingerprint}/sessions", response_model=SessionList)
def affected_sessions(
    project_id: ProjectId,
    fingerprint: Fingerprint,
    db: Db,
    caller: CallerDep,
    runtime: RuntimeDep,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Sessions with an event of this error group, newest first (``from``/``to`` bound their start)."""
    visible_project(db, caller, project_id)
    if not error_groups.group_exists(db, project_id, fingerprint):
        raise not_found(f"Backend error {fingerprint[:64]}")
    filters = SessionFilters(start=since, end=until, fingerprint=fingerprint)
    return json_answer(session_list(db, project_id, filters, limit, cursor, runtime.settings))
