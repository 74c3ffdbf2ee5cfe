"""Choices for a settings field (CloudWatch log groups, ...), listed with the settings being typed.

Any provider may offer them: it names the fields in ``choice_fields`` and answers ``choices()``.
"""

from __future__ import annotations

from typing import Any

import anyio

from replaylink import providers
from replaylink.config import Settings
from replaylink.integrations.connect import open_provider
from replaylink.integrations.settings import validate

TIMEOUT = 60.0
"""Seconds a provider gets to list choices."""


class NoChoices(LookupError):
    """The provider offers no choices for that field."""

    def __init__(self, provider: str, field: str) -> None:
        cls = providers.get(provider)
        offered = ", ".join(cls.choice_fields) or "none"
        super().__init__(f"{cls.label} offers no choices for {field[:64]!r}; fields with choices: {offered}.")


async def list_choices(
    provider: str, field: str, raw: dict[str, Any], settings: Settings, prefix: str = ""
) -> list[str]:
    """The values ``field`` may take with the settings ``raw`` (the field's own value is ignored).

    Raises :class:`NoChoices`, ``InvalidSettings`` (before any connection), ``ProviderError``
    or ``TimeoutError``.
    """
    stand_in = providers.get(provider).choice_fields
    if field not in stand_in:
        raise NoChoices(provider, field)
    model = validate(provider, raw | {field: stand_in[field]}, block_private=settings.block_private_networks)
    with anyio.fail_after(TIMEOUT):
        async with open_provider(provider, model, settings) as instance:
            return await instance.choices(field, prefix)
