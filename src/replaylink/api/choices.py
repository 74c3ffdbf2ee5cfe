"""``/api/v1/integrations/{provider}/choices/{field}``: values a settings field may take.

A settings form asks while the user types the other settings (e.g. CloudWatch log groups once
the keys and region are in). ``POST /integrations/cloudwatch/log-groups`` stays as an alias.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from replaylink.aio import run_async
from replaylink.api.deps import CallerDep, RuntimeDep, provider_or_404
from replaylink.api.errors import ApiError, invalid_settings
from replaylink.api.params import ProviderName
from replaylink.integrations.choices import TIMEOUT, NoChoices, list_choices
from replaylink.integrations.failures import describe
from replaylink.integrations.settings import InvalidSettings

router = APIRouter(prefix="/api/v1", tags=["integrations"])

FieldName = Annotated[str, Path(max_length=64, description="A field listed in the provider's choice_fields.")]


class ChoicesIn(BaseModel):
    settings: dict[str, Any] = Field(
        default_factory=dict, max_length=64, description="The settings typed so far (secrets included)."
    )
    prefix: str = Field("", max_length=512, description="Only values that start with this.")


class ChoicesOut(BaseModel):
    field: str
    choices: list[str] = Field(description="At most 500, in the provider's order.")


class LogGroupsIn(BaseModel):
    aws_access_key_id: str = Field(max_length=128)
    aws_secret_access_key: str = Field(max_length=256)
    aws_session_token: str | None = Field(None, max_length=4096)
    region: str = Field(max_length=32)
    endpoint_url: str | None = Field(None, max_length=2048)
    prefix: str | None = Field(None, max_length=512)


class LogGroupsOut(BaseModel):
    log_groups: list[str]


def _choices(rt: RuntimeDep, provider: str, field: str, raw: dict[str, Any], prefix: str) -> list[str]:
    label = provider_or_404(provider).label
    try:
        return run_async(lambda: list_choices(provider, field, raw, rt.settings, prefix))
    except NoChoices as exc:
        raise ApiError(404, "no_choices", str(exc)) from None
    except InvalidSettings as exc:
        raise invalid_settings(exc) from None
    except Exception as exc:
        failure = describe(exc, label, action="listing choices from", timeout=TIMEOUT)
        if failure.kind == "internal":
            raise
        raise ApiError(422, "check_failed", failure.message, failure.details()) from None


@router.post("/integrations/{provider}/choices/{field}", response_model=ChoicesOut)
def field_choices(
    provider: ProviderName, field: FieldName, body: ChoicesIn, _: CallerDep, rt: RuntimeDep
) -> ChoicesOut:
    """The values ``field`` may take with the body's settings (its own value is ignored).

    Which fields have choices: ``choice_fields`` in ``GET /integrations/providers``.
    """
    return ChoicesOut(field=field, choices=_choices(rt, provider, field, body.settings, body.prefix))


@router.post("/integrations/cloudwatch/log-groups", response_model=LogGroupsOut)
def cloudwatch_log_groups(body: LogGroupsIn, _: CallerDep, rt: RuntimeDep) -> LogGroupsOut:
    """Alias of ``POST /integrations/cloudwatch/choices/log_group_names`` with the settings at top level."""
    raw = body.model_dump(exclude={"prefix"}, exclude_none=True)
    return LogGroupsOut(log_groups=_choices(rt, "cloudwatch", "log_group_names", raw, body.prefix or ""))
