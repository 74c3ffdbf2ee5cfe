"""``GET .../integrations/{provider}/{name}/diagnostics``: why an integration's logs do (not) attach.

The importer counts every token outcome and keeps a few rejected samples on the integration;
this endpoint returns them bounded and scrubbed of the integration's own secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from replaylink.api.deps import CallerDep, Db, RuntimeDep, existing_integration
from replaylink.api.params import IntegrationName, ProjectId, ProviderName
from replaylink.importer.correlate import ATTACHING, Outcome
from replaylink.integrations import settings as svc
from replaylink.providers.base import redact
from replaylink.store.models import Integration
from replaylink.vault import Vault, VaultError

router = APIRouter(prefix="/api/v1", tags=["integrations"])

REJECTIONS = [outcome.value for outcome in Outcome if outcome not in ATTACHING]
"""Why a record did not attach: forged, malformed, expired_out_of_grace, other_project, ..."""
MAX_SAMPLES = 20
MAX_SAMPLE_FIELDS = 20
MAX_SAMPLE_CHARS = 500

Scalar = str | int | float | bool | None


class Diagnostics(BaseModel):
    provider: str
    name: str
    outcomes: dict[str, int] = Field(description="Every token outcome the importer counted.")
    rejected: dict[str, int] = Field(
        description="Records that did not attach, by reason: " + ", ".join(REJECTIONS) + "."
    )
    samples: list[dict[str, Scalar]] = Field(description="Recent rejected records (bounded, secret-free).")
    records_scanned: int
    events_imported: int
    last_success_at: datetime | None
    last_error: str | None


def bounded_sample(sample: Any, secrets: list[str]) -> dict[str, Scalar] | None:
    """Scalar fields only, strings shortened and scrubbed of ``secrets``."""
    if not isinstance(sample, dict):
        return None
    out: dict[str, Scalar] = {}
    for key, value in list(sample.items())[:MAX_SAMPLE_FIELDS]:
        if isinstance(value, str):
            out[str(key)[:64]] = redact(value, secrets)[:MAX_SAMPLE_CHARS]
        elif value is None or isinstance(value, bool | int | float):
            out[str(key)[:64]] = value
    return out


def _secrets(row: Integration, vault: Vault) -> list[str]:
    """The integration's secret values, to scrub from samples (none if they do not decrypt)."""
    if not row.secrets:
        return []
    try:
        return list(vault.decrypt(row.secrets, svc.context(row)).values())
    except VaultError:
        return []


@router.get("/projects/{project_id}/integrations/{provider}/{name}/diagnostics", response_model=Diagnostics)
def integration_diagnostics(
    project_id: ProjectId,
    provider: ProviderName,
    name: IntegrationName,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
) -> Diagnostics:
    """Token outcome counts (forged, malformed, expired, other project, no token...) and samples."""
    row = existing_integration(db, caller, project_id, provider, name)
    secrets = _secrets(row, rt.vault)
    outcomes = {str(k): int(v) for k, v in (row.outcomes or {}).items() if isinstance(v, int)}
    samples = [bounded_sample(s, secrets) for s in (row.rejected_samples or [])[-MAX_SAMPLES:]]
    return Diagnostics(
        provider=row.provider,
        name=row.name,
        outcomes=outcomes,
        rejected={reason: outcomes.get(reason, 0) for reason in REJECTIONS},
        samples=[s for s in samples if s is not None],
        records_scanned=row.records_scanned,
        events_imported=row.events_imported,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
    )
