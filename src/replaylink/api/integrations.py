"""``/api/v1/.../integrations``: provider credentials, checked before they are saved.

Preferences > Integrations in the dashboard is generated from ``GET /integrations/providers``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from replaylink import providers
from replaylink.aio import run_async
from replaylink.api.deps import (
    CallerDep,
    Db,
    RuntimeDep,
    existing_integration,
    provider_or_404,
    visible_project,
)
from replaylink.api.errors import ApiError, invalid_settings, not_found
from replaylink.api.params import IntegrationName, ProviderName
from replaylink.integrations import settings as svc
from replaylink.integrations.connect import open_provider
from replaylink.providers.base import ProviderError, ProviderSettings
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.models import Integration

router = APIRouter(prefix="/api/v1", tags=["integrations"])

CHECK_TIMEOUT = 60.0
T = TypeVar("T")


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


class CheckOut(BaseModel):
    ok: bool
    message: str


class ChangeOut(BaseModel):
    at: datetime
    action: str
    actor: str
    changes: dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _check_name(name: str) -> None:
    if not svc.NAME_RE.fullmatch(name):
        raise ApiError(
            422,
            "invalid_name",
            "Integration names use a-z, 0-9, '-' and '_' (1 to 64 characters), e.g. 'default'.",
        )


def _validated(rt: Runtime, provider: str, raw: dict[str, Any]) -> ProviderSettings:
    try:
        return svc.validate(provider, raw, block_private=rt.settings.block_private_networks)
    except svc.InvalidSettings as exc:
        raise invalid_settings(exc) from None


def _run_check(rt: Runtime, provider: str, model: ProviderSettings) -> None:
    """Raise 422 with the provider's reason when ``check()`` fails."""

    async def check() -> None:
        with anyio.fail_after(CHECK_TIMEOUT):
            async with open_provider(provider, model, rt.settings) as instance:
                await instance.check()

    label = provider_or_404(provider).label
    try:
        run_async(check)
    except ProviderError as exc:
        raise ApiError(
            422,
            "check_failed",
            f"{label} refused these settings: {exc.message}",
            {"kind": exc.kind, "field": exc.field},
        ) from None
    except TimeoutError:
        raise ApiError(
            422,
            "check_failed",
            f"{label} did not answer the check within {CHECK_TIMEOUT:g} s.",
            {"kind": "unreachable"},
        ) from None


def _health(row: Integration) -> Health:
    moment = datetime.now(UTC)
    if row.paused:
        status = "paused"
    elif row.needs_attention:
        status = "needs_attention"
    elif row.consecutive_failures:
        status = "failing"
    elif row.last_success_at is None:
        status = "pending"
    else:
        status = "ok"
    return Health(
        status=status,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
        last_error_kind=row.last_error_kind,
        consecutive_failures=row.consecutive_failures,
        lag_seconds=(moment - row.checkpoint).total_seconds() if row.checkpoint else None,
        records_scanned=row.records_scanned,
        events_imported=row.events_imported,
        next_poll_at=None if row.paused or not row.enabled else row.next_poll_at,
    )


def _out(rt: Runtime, row: Integration) -> IntegrationOut:
    return IntegrationOut(
        provider=row.provider,
        name=row.name,
        enabled=row.enabled,
        paused=row.paused,
        settings=svc.masked_view(row, rt.vault),
        poll_interval_seconds=row.poll_interval_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        health=_health(row),
    )


def _actor(caller: CallerDep) -> str:
    return f"api-key:{caller.key_id}"


def _save(rt: Runtime, row: Integration, model: ProviderSettings) -> None:
    public, secrets = svc.split(model)
    row.settings = public
    row.secrets = rt.vault.encrypt(secrets, svc.context(row)) if secrets else None
    row.updated_at = datetime.now(UTC)


# --------------------------------------------------------------------------- endpoints


@router.get("/integrations/providers", response_model=list[ProviderInfo])
def provider_catalogue(_: CallerDep) -> list[ProviderInfo]:
    """Every provider with the JSON schema of its settings, to generate the settings forms."""
    out = []
    for name in providers.names():
        cls = providers.get(name)
        out.append(
            ProviderInfo(
                name=name,
                label=cls.label,
                settings_schema=cls.Settings.model_json_schema(),
                secret_fields=sorted(svc.secret_fields(name)),
                choice_fields=list(cls.choice_fields),
            )
        )
    return out


@router.get("/projects/{project_id}/integrations", response_model=list[IntegrationOut])
def list_integrations(project_id: int, db: Db, caller: CallerDep, rt: RuntimeDep) -> list[IntegrationOut]:
    visible_project(db, caller, project_id)
    return [_out(rt, row) for row in store.list_for_project(db, project_id)]


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
    check: Annotated[bool, Query(description="Run the provider check before saving.")] = True,
) -> IntegrationOut:
    """Create or replace. Saved only when the provider's check passes (unless ``check=false``)."""
    visible_project(db, caller, project_id)
    provider_or_404(provider)
    _check_name(name)
    row = store.find(db, project_id, provider, name)
    secret_names = svc.secret_fields(provider)
    old: dict[str, Any] = svc.stored_raw(row, rt.vault) if row is not None else {}
    # A secret sent back masked (as GET shows it) keeps its stored value: a mask is never saved.
    raw = {
        key: old[key] if key in secret_names and key in old and svc.is_masked(value) else value
        for key, value in body.settings.items()
    }
    model = _validated(rt, provider, raw)
    if check:
        _run_check(rt, provider, model)
    if row is None:
        row = store.create(
            db,
            project_id=project_id,
            provider=provider,
            name=name,
            settings={},
            secrets=None,
            poll_interval=body.poll_interval_seconds or rt.settings.poll_interval_seconds,
            lookback=timedelta(seconds=rt.settings.initial_lookback_seconds),
        )
        action = "created"
        response.status_code = 201
    else:
        action = "replaced"
        if body.poll_interval_seconds:
            row.poll_interval_seconds = body.poll_interval_seconds
    _save(rt, row, model)
    row.needs_attention = False
    row.next_poll_at = datetime.now(UTC)
    store.record_change(
        db, row, action, _actor(caller), svc.diff(old, svc.stored_raw(row, rt.vault), secret_names)
    )
    return _out(rt, row)


@router.patch("/projects/{project_id}/integrations/{provider}/{name}", response_model=IntegrationOut)
def patch_integration(
    project_id: int,
    provider: ProviderName,
    name: IntegrationName,
    body: IntegrationPatch,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
    check: Annotated[bool, Query(description="Run the provider check before saving.")] = True,
) -> IntegrationOut:
    """Partial update: a secret left out (or sent back masked) keeps its stored value."""
    row = existing_integration(db, caller, project_id, provider, name)
    secret_names = svc.secret_fields(provider)
    old = svc.stored_raw(row, rt.vault)
    model = _validated(rt, provider, svc.merge(old, body.settings, secret_names))
    if check and body.settings:
        _run_check(rt, provider, model)
    _save(rt, row, model)
    changes = svc.diff(old, svc.stored_raw(row, rt.vault), secret_names)
    if body.poll_interval_seconds and body.poll_interval_seconds != row.poll_interval_seconds:
        changes["poll_interval_seconds"] = {
            "old": row.poll_interval_seconds,
            "new": body.poll_interval_seconds,
        }
        row.poll_interval_seconds = body.poll_interval_seconds
    if body.settings:
        row.needs_attention = False
        row.next_poll_at = datetime.now(UTC)
    store.record_change(db, row, "updated", _actor(caller), changes)
    return _out(rt, row)


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
    store.record_change(db, row, "deleted", _actor(caller), {"purge_events": purge_events})
    purged = store.remove(db, row, purge_events)
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
    """Check the stored settings, or settings in the body merged over them, without saving."""
    visible_project(db, caller, project_id)
    provider_or_404(provider)
    row = store.find(db, project_id, provider, name)
    patch = body.settings if body else {}
    if row is None and not patch:
        raise not_found(f"Integration {provider}/{name[:64]}")
    stored = svc.stored_raw(row, rt.vault) if row is not None else {}
    model = _validated(rt, provider, svc.merge(stored, patch, svc.secret_fields(provider)))
    _run_check(rt, provider, model)
    return CheckOut(ok=True, message=f"{providers.get(provider).label} accepted these settings.")


def _set_paused(
    db: Db, caller: CallerDep, rt: Runtime, project_id: int, provider: str, name: str, paused: bool
) -> IntegrationOut:
    row = existing_integration(db, caller, project_id, provider, name)
    if row.paused != paused:
        row.paused = paused
        row.updated_at = datetime.now(UTC)
        if not paused:
            row.next_poll_at = datetime.now(UTC)
        store.record_change(db, row, "paused" if paused else "resumed", _actor(caller))
    return _out(rt, row)


@router.post("/projects/{project_id}/integrations/{provider}/{name}/pause", response_model=IntegrationOut)
def pause_integration(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep, rt: RuntimeDep
) -> IntegrationOut:
    return _set_paused(db, caller, rt, project_id, provider, name, True)


@router.post("/projects/{project_id}/integrations/{provider}/{name}/resume", response_model=IntegrationOut)
def resume_integration(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep, rt: RuntimeDep
) -> IntegrationOut:
    return _set_paused(db, caller, rt, project_id, provider, name, False)


@router.get("/projects/{project_id}/integrations/{provider}/{name}/history", response_model=list[ChangeOut])
def integration_history(
    project_id: int, provider: ProviderName, name: IntegrationName, db: Db, caller: CallerDep
) -> list[ChangeOut]:
    """Who changed what and when (secret values are never recorded)."""
    visible_project(db, caller, project_id)
    provider_or_404(provider)
    return [
        ChangeOut(at=c.at, action=c.action, actor=c.actor, changes=c.changes)
        for c in store.history(db, project_id, provider, name)
    ]
