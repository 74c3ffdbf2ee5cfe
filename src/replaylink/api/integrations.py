"""``/api/v1/.../integrations``: provider credentials, checked before they are saved.

Preferences > Integrations in the dashboard is generated from ``GET /integrations/providers``.
Thin: parse the request, call :mod:`replaylink.integrations.service`, serialise the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field

from replaylink import providers
from replaylink.api.deps import CallerDep, Db, RuntimeDep, existing_integration, visible_project
from replaylink.api.params import IntegrationName, ProviderName
from replaylink.integrations import service
from replaylink.integrations import settings as rules
from replaylink.runtime import Runtime
from replaylink.store.models import Integration

router = APIRouter(prefix="/api/v1", tags=["integrations"])


# --------------------------------------------------------------------------- models


class ProviderInfo(BaseModel):
    name: str
    label: str
    settings_schema: dict[str, Any] = Field(
        description='JSON schema; secret fields carry "secret": true, fields that say where the '
        'credentials are sent "address": true, URL fields "format": "uri".'
    )
    secret_fields: list[str]
    choice_fields: list[str] = Field(
        description="Fields whose values POST /integrations/{provider}/choices/{field} lists."
    )


class IntegrationIn(BaseModel):
    settings: dict[str, Any] = Field(max_length=64, description="The provider's settings fields.")
    poll_interval_seconds: float | None = Field(None, ge=5, le=3600)


class IntegrationPatch(BaseModel):
    settings: dict[str, Any] = Field(default_factory=dict, max_length=64)
    poll_interval_seconds: float | None = Field(None, ge=5, le=3600)


class CheckIn(BaseModel):
    settings: dict[str, Any] = Field(default_factory=dict, max_length=64)


class Health(BaseModel):
    status: str = Field(description="ok, pending, failing, needs_attention or paused")
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    last_error_kind: str | None
    consecutive_failures: int
    lag_seconds: float | None = Field(description="Now minus the checkpoint.")
    records_scanned: int
    events_imported: int
    next_poll_at: datetime | None


class IntegrationOut(BaseModel):
    provider: str
    name: str
    enabled: bool
    paused: bool
    settings: dict[str, Any] = Field(description="Non-secret values; secrets masked as ******** + last 4.")
    poll_interval_seconds: float
    created_at: datetime
    updated_at: datetime
    health: Health
    credentials_error: str | None = Field(
        None,
        description="Null when the stored secrets can be read; else why not and what to do (their "
        "encryption key is gone): the secrets then show as null and can be entered again.",
    )


class CheckOut(BaseModel):
    ok: bool
    message: str


class ChangeOut(BaseModel):
    at: datetime
    action: str
    actor: str
    changes: dict[str, Any]


# --------------------------------------------------------------------------- serialisation


def _health(row: Integration) -> Health:
    return Health(
        status=service.health_status(row),
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
        last_error_kind=row.last_error_kind,
        consecutive_failures=row.consecutive_failures,
        lag_seconds=(datetime.now(UTC) - row.checkpoint).total_seconds() if row.checkpoint else None,
        records_scanned=row.records_scanned,
        events_imported=row.events_imported,
        next_poll_at=None if row.paused or not row.enabled else row.next_poll_at,
    )


def _out(rt: Runtime, row: Integration) -> IntegrationOut:
    settings, credentials_error = rules.displayed(row, rt.vault)
    return IntegrationOut(
        provider=row.provider,
        name=row.name,
        enabled=row.enabled,
        paused=row.paused,
        settings=settings,
        credentials_error=credentials_error,
        poll_interval_seconds=row.poll_interval_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        health=_health(row),
    )


def _actor(caller: CallerDep) -> str:
    return caller.actor


CheckParam = Annotated[bool, Query(description="Run the provider check before saving.")]


# --------------------------------------------------------------------------- endpoints


@router.get("/integrations/providers", response_model=list[ProviderInfo])
def provider_catalogue(_: CallerDep) -> list[ProviderInfo]:
    """Every provider with the JSON schema of its settings, to generate the settings forms."""
    return [
        ProviderInfo(
            name=name,
            label=providers.get(name).label,
            settings_schema=providers.get(name).Settings.model_json_schema(),
            secret_fields=sorted(rules.secret_fields(name)),
            choice_fields=list(providers.get(name).choice_fields),
        )
        for name in providers.names()
    ]


@router.get("/projects/{project_id}/integrations", response_model=list[IntegrationOut])
def list_integrations(project_id: int, db: Db, caller: CallerDep, rt: RuntimeDep) -> list[IntegrationOut]:
    visible_project(db, caller, project_id)
    return [_out(rt, row) for row in service.list_for_project(db, project_id)]


@router.get("/projects/{project_id}/integrations/{provider}/{name}", response_model=IntegrationOut)
def get_integration(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep, rt: RuntimeDep
) -> IntegrationOut:
    return _out(rt, existing_integration(db, caller, project_id, provider, name))


@router.put(
    "/projects/{project_id}/integrations/{provider}/{name}",
    response_model=IntegrationOut,
    responses={201: {"model": IntegrationOut, "description": "Created"}},
)
def put_integration(
    project_id: int,
    provider: ProviderName,
    name: IntegrationName,
    body: IntegrationIn,
    response: Response,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
    check: CheckParam = True,
    if_none_match: Annotated[
        str | None,
        Header(description="`*`: create only; 412 `already_exists` when the integration exists."),
    ] = None,
) -> IntegrationOut:
    """Create or replace. Saved only when the provider's check passes (unless ``check=false``).

    A secret sent back masked keeps its stored value, except when an address field changes:
    then every stored secret must be entered again (422 ``secrets_required``). With
    ``If-None-Match: *`` an existing integration is never replaced (412 ``already_exists``).
    """
    visible_project(db, caller, project_id)
    saved = service.save(
        db,
        rt,
        project_id=project_id,
        provider=provider,
        name=name,
        sent=body.settings,
        poll_interval=body.poll_interval_seconds,
        check=check,
        actor=_actor(caller),
        create_only=(if_none_match or "").strip() == "*",
    )
    if saved.created:
        response.status_code = 201
    return _out(rt, saved.row)


@router.patch("/projects/{project_id}/integrations/{provider}/{name}", response_model=IntegrationOut)
def patch_integration(
    project_id: int,
    provider: ProviderName,
    name: IntegrationName,
    body: IntegrationPatch,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
    check: CheckParam = True,
) -> IntegrationOut:
    """Partial update: a secret left out (or sent back masked) keeps its stored value, unless an
    address field changes (then every stored secret must be entered again)."""
    row = existing_integration(db, caller, project_id, provider, name)
    patched = service.patch(
        db,
        rt,
        row,
        sent=body.settings,
        poll_interval=body.poll_interval_seconds,
        check=check,
        actor=_actor(caller),
    )
    return _out(rt, patched)


@router.delete("/projects/{project_id}/integrations/{provider}/{name}")
def delete_integration(
    project_id: int,
    provider: ProviderName,
    name: IntegrationName,
    db: Db,
    caller: CallerDep,
    purge_events: Annotated[bool, Query(description="Also delete the events it imported.")] = False,
) -> dict[str, Any]:
    """Stop polling and delete the settings; imported events stay unless ``purge_events=true``."""
    row = existing_integration(db, caller, project_id, provider, name)
    purged = service.delete(db, row, purge_events=purge_events, actor=_actor(caller))
    return {"deleted": True, "events_purged": purged}


@router.post("/projects/{project_id}/integrations/{provider}/{name}/check", response_model=CheckOut)
def check_integration(
    project_id: int,
    provider: ProviderName,
    name: IntegrationName,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
    body: CheckIn | None = None,
) -> CheckOut:
    """Check the stored settings, or settings in the body merged over them, without saving.

    A check with settings is recorded in the history (which fields, never values); changing an
    address field needs every stored secret entered again, as for PUT and PATCH.
    """
    visible_project(db, caller, project_id)
    message = service.check(
        db,
        rt,
        project_id=project_id,
        provider=provider,
        name=name,
        sent=body.settings if body else {},
        actor=_actor(caller),
    )
    return CheckOut(ok=True, message=message)


@router.post("/projects/{project_id}/integrations/{provider}/{name}/pause", response_model=IntegrationOut)
def pause_integration(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep, rt: RuntimeDep
) -> IntegrationOut:
    row = existing_integration(db, caller, project_id, provider, name)
    return _out(rt, service.set_paused(db, row, True, actor=_actor(caller)))


@router.post("/projects/{project_id}/integrations/{provider}/{name}/resume", response_model=IntegrationOut)
def resume_integration(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep, rt: RuntimeDep
) -> IntegrationOut:
    row = existing_integration(db, caller, project_id, provider, name)
    return _out(rt, service.set_paused(db, row, False, actor=_actor(caller)))


@router.get("/projects/{project_id}/integrations/{provider}/{name}/history", response_model=list[ChangeOut])
def integration_history(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep
) -> list[ChangeOut]:
    """Who changed (or checked) what and when (secret values are never recorded)."""
    visible_project(db, caller, project_id)
    return [
        ChangeOut(at=c.at, action=c.action, actor=c.actor, changes=c.changes)
        for c in service.history(db, project_id, provider, name)
    ]
