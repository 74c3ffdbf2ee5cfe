"""What a failed provider call means for the user: one vocabulary for every place that shows it.

The importer's health, the on-demand answer, the settings check and the choices picker all
describe a failure with :func:`describe`, so the same failure reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replaylink import providers
from replaylink.integrations.settings import InvalidSettings
from replaylink.providers.base import (
    AuthError,
    NotFound,
    ProviderError,
    ProviderPermissionError,
    RateLimited,
)
from replaylink.vault import VaultError

NEEDS_ATTENTION = (AuthError, ProviderPermissionError, NotFound, VaultError, InvalidSettings)
"""Failures only the user can fix (the importer shows them as "needs attention")."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A provider failure, told to the user."""

    kind: str
    """Stable machine name: auth, permission, not_found, unreachable, rate_limited, provider_error,
    configuration (stored settings unusable) or internal."""
    message: str
    """One sentence that says what went wrong and what to do; never holds a secret."""
    field: str | None = None
    """The settings field to fix, when one is to blame."""
    retry_after: float | None = None
    """Seconds until the provider may be asked again (rate limits)."""
    needs_attention: bool = False
    """Only the user can fix it: retrying unchanged will not help."""

    def details(self) -> list[dict[str, Any]]:
        """The error envelope's ``details``: one ``{field, kind, message}`` (``field`` may be null)."""
        return [{"field": self.field, "kind": self.kind, "message": self.message}]


def provider_label(name: str) -> str:
    """The provider's display name (the raw name for one this build does not know)."""
    try:
        return providers.get(name).label
    except providers.UnknownProvider:
        return name


def describe(
    exc: BaseException, label: str, *, action: str = "querying", timeout: float | None = None
) -> Failure:
    """``exc`` (raised while ``action`` the provider called ``label``) as a :class:`Failure`.

    ``timeout`` is the limit a ``TimeoutError`` ran into. Unexpected exceptions name only their
    type: their text may hold anything, secrets included.
    """
    attention = isinstance(exc, NEEDS_ATTENTION)
    if isinstance(exc, RateLimited):
        return Failure(
            exc.kind,
            f"{label} is rate limiting ReplayLink; it can be asked again in {exc.retry_after:.0f} s.",
            exc.field,
            exc.retry_after,
        )
    if isinstance(exc, ProviderError):
        return Failure(exc.kind, exc.message, exc.field, needs_attention=attention)
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout is not None else ""
        return Failure("unreachable", f"{label} did not answer{within}; try again later.")
    if isinstance(exc, VaultError):  # already says what to do; the settings themselves may be fine
        return Failure(
            "configuration", f"The stored {label} credentials cannot be read: {exc}", needs_attention=True
        )
    if isinstance(exc, InvalidSettings):
        field = exc.problems[0]["field"] if exc.problems else None
        return Failure(
            "configuration",
            f"The stored {label} settings cannot be used ({exc}); fix them in Preferences > Integrations.",
            field,
            needs_attention=True,
        )
    return Failure("internal", f"Unexpected {type(exc).__name__} while {action} {label}; see the server log.")
