"""``/api/v1/projects``: the projects an API key can see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from replaylink.api.deps import AdminDep, Caller, CallerDep, Db, require_admin, visible_project
from replaylink.store.accounts import create_project, list_projects
from replaylink.store.models import Project

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


class ProjectOut(BaseModel):
    id: int
    name: str
    project_key: str = Field(description="Public key for the browser tracker.")
    allowed_origins: list[str] | None
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            project_key=project.public_key,
            allowed_origins=project.allowed_origins,
            created_at=project.created_at,
        )


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    allowed_origins: list[Annotated[str, Field(max_length=300)]] | None = Field(None, max_length=100)


@router.get("", response_model=list[ProjectOut])
def projects(db: Db, caller: CallerDep) -> list[ProjectOut]:
    return [ProjectOut.of(p) for p in list_projects(db) if caller.can_see(p.id)]


@router.post("", response_model=ProjectOut, status_code=201)
def new_project(body: ProjectIn, db: Db, _: Annotated[Caller, Depends(require_admin)]) -> ProjectOut:
    return ProjectOut.of(create_project(db, body.name, body.allowed_origins))


ORIGIN_PATTERN = r"^(\*|https?://[A-Za-z0-9.\-\[\]:]+/?)$"


class ProjectPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    allowed_origins: list[Annotated[str, Field(max_length=300, pattern=ORIGIN_PATTERN)]] | None = Field(
        None, max_length=100, description="Origins that may record (https://shop.example.com); [] = any."
    )


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(body: ProjectPatch, project_id: int, db: Db, caller: AdminDep) -> ProjectOut:
    """Rename the project or change the origins its tracker may record from (admin)."""
    project = visible_project(db, caller, project_id)
    if body.name is not None:
        project.name = body.name
    if "allowed_origins" in body.model_fields_set:
        origins = [o.strip().rstrip("/") for o in body.allowed_origins or [] if o.strip()]
        project.allowed_origins = origins or None
    db.flush()
    return ProjectOut.of(project)


@router.get("/{project_id}", response_model=ProjectOut)
def project(project_id: int, db: Db, caller: CallerDep) -> ProjectOut:
    return ProjectOut.of(visible_project(db, caller, project_id))
