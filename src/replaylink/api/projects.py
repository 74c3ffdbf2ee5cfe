"""``/api/v1/projects``: the projects an API key can see."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from replaylink.api.deps import AdminDep, Caller, CallerDep, Db, require_admin, visible_project
from replaylink.store.accounts import canonical_origin, create_project, list_projects
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


ORIGIN_PATTERN = r"^(\*|https?://[A-Za-z0-9.\-\[\]:]+/?)$"
ORIGIN_EXAMPLE = "scheme://host[:port] with no path, such as https://shop.example.com, or * for any"
"""What a valid allowed origin looks like, for error messages."""
Origin = Annotated[str, Field(max_length=300, pattern=ORIGIN_PATTERN)]
ORIGINS_DESCRIPTION = "Origins that may record (https://shop.example.com); [] = any."


def normalise_origins(origins: Iterable[str] | None) -> list[str] | None:
    """Allowed origins as stored: each as a browser sends it (``canonical_origin``), blanks dropped;
    None (any origin) when none is left. :class:`ValueError` names the first one that is not an
    origin (``ORIGIN_PATTERN``). The API and ``replaylink project create`` both go through this."""
    cleaned: list[str] = []
    for origin in origins or []:
        value = origin.strip()
        if not value:
            continue
        if len(value) > 300 or not re.fullmatch(ORIGIN_PATTERN, value):
            raise ValueError(f"{value[:80]!r} is not an origin: give {ORIGIN_EXAMPLE}")
        cleaned.append(canonical_origin(value))
    return cleaned or None


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    allowed_origins: list[Origin] | None = Field(None, max_length=100, description=ORIGINS_DESCRIPTION)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return normalise_origins(value)


@router.get("", response_model=list[ProjectOut])
def projects(db: Db, caller: CallerDep) -> list[ProjectOut]:
    return [ProjectOut.of(p) for p in list_projects(db) if caller.can_see(p.id)]


@router.post("", response_model=ProjectOut, status_code=201)
def new_project(body: ProjectIn, db: Db, _: Annotated[Caller, Depends(require_admin)]) -> ProjectOut:
    return ProjectOut.of(create_project(db, body.name, body.allowed_origins))


class ProjectPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    allowed_origins: list[Origin] | None = Field(None, max_length=100, description=ORIGINS_DESCRIPTION)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return normalise_origins(value)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(body: ProjectPatch, project_id: int, db: Db, caller: AdminDep) -> ProjectOut:
    """Rename the project or change the origins its tracker may record from (admin)."""
    project = visible_project(db, caller, project_id)
    if body.name is not None:
        project.name = body.name
    if "allowed_origins" in body.model_fields_set:
        project.allowed_origins = body.allowed_origins  # normalised by ProjectPatch
    db.flush()
    return ProjectOut.of(project)


@router.get("/{project_id}", response_model=ProjectOut)
def project(project_id: int, db: Db, caller: CallerDep) -> ProjectOut:
    return ProjectOut.of(visible_project(db, caller, project_id))
