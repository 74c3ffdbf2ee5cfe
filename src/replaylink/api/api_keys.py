"""``/api/v1/api-keys`` (admin): list, create and revoke API keys from Preferences > API keys."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from replaylink.api.deps import MAX_ID, AdminDep, Db
from replaylink.api.errors import ApiError, not_found
from replaylink.store import accounts
from replaylink.store.models import ApiKey, Project

router = APIRouter(prefix="/api/v1/api-keys", tags=["API keys"])


class ApiKeyRow(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters (the key itself is never shown again).")
    project_id: int | None = Field(description="None = an admin key (every project).")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRow):
    key: str = Field(description="The key: shown once, store it now.")


class ApiKeyIn(BaseModel):
    name: str = Field("", max_length=200)
    project_id: int | None = Field(None, gt=0, le=MAX_ID, description="Omit for an admin key.")


def _row(key: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        project_id=key.project_id,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.get("", response_model=list[ApiKeyRow])
def list_keys(db: Db, _: AdminDep) -> list[ApiKeyRow]:
    return [_row(k) for k in db.scalars(select(ApiKey).order_by(ApiKey.id))]


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_key(body: ApiKeyIn, db: Db, caller: AdminDep) -> ApiKeyCreated:
    if body.project_id is not None and db.get(Project, body.project_id) is None:
        raise ApiError(422, "unknown_project", f"There is no project {body.project_id}.")
    new = accounts.create_api_key(db, body.project_id, name=body.name, user_id=caller.user_id)
    row = db.get(ApiKey, new.id)
    assert row is not None
    return ApiKeyCreated(**_row(row).model_dump(), key=new.key)


@router.delete("/{key_id}", status_code=204)
def revoke_key(db: Db, _: AdminDep, key_id: int = Path(gt=0, le=MAX_ID)) -> Response:
    """Revoke the key: requests with it answer 401 from now on."""
    row = db.get(ApiKey, key_id)
    if row is None:
        raise not_found(f"API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return Response(status_code=204)
