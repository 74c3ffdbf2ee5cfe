"""Integration settings: validate, split secrets from the rest, mask, merge, diff.

Pure rules over a provider's settings model and a stored row; nothing here does I/O but the
vault's decryption.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr, ValidationError

from replaylink import outbound, providers
from replaylink.providers.base import ProviderSettings, validation_message
from replaylink.store.models import Integration
from replaylink.vault import Vault, VaultError

MASK = "********"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class InvalidSettings(ValueError):
    """Settings that fail validation: one message per field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


def settings_class(provider: str) -> type[ProviderSettings]:
    return providers.get(provider).Settings


def secret_fields(provider: str) -> set[str]:
    return set(settings_class(provider).secret_field_names())


def mask(value: str) -> str:
    """``********`` plus the last 4 characters (fewer for short values)."""
    tail = value[-4:] if len(value) >= 12 else ""
    return MASK + tail


def is_masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def validate(provider: str, raw: dict[str, Any], *, block_private: bool) -> ProviderSettings:
    """Build the provider's Settings from ``raw`` and check every user-typed URL or host.

    Every field's problem is reported at once: an unsafe URL is named even when other fields fail.
    """
    cls = settings_class(provider)
    problems: list[dict[str, str]] = []
    model: ProviderSettings | None = None
    try:
        model = cls.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "settings", "message": validation_message(e)}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    values = raw if model is None else {name: getattr(model, name) for name in cls.model_fields}
    reported = {problem["field"].split(".")[0] for problem in problems}
    urls = set(cls.url_field_names())
    for name in cls.model_fields:
        value = values.get(name)
        if name in reported or not isinstance(value, str) or not value:
            continue
        if name in urls or name in cls.address_field_names():
            message = _address_problem(name, value, full_url=name in urls, block_private=block_private)
            if message:
                problems.append({"field": name, "message": message})
    if problems or model is None:
        raise InvalidSettings(problems)
    return model


def _address_problem(name: str, value: str, *, full_url: bool, block_private: bool) -> str | None:
    """Why an address or URL field (flagged in the settings schema) is refused, or None.

    A ``"format": "uri"`` field must be a full URL; any other address field may also be a bare
    host[:port] (https by default). See :mod:`replaylink.outbound`.
    """
    try:
        url = value if full_url or "://" in value else "https://" + value
        outbound.check_url(url, block_private=block_private, field=name)
    except outbound.UnsafeURL as exc:
        return str(exc)
    return None


def split(model: ProviderSettings) -> tuple[dict[str, Any], dict[str, str]]:
    """(non-secret settings as JSON, secret values in plain text)."""
    names = set(type(model).secret_field_names()) | {
        name for name in type(model).model_fields if isinstance(getattr(model, name), SecretStr)
    }
    secret: dict[str, str] = {}
    for name in names:
        value = getattr(model, name)
        if value is not None:
            secret[name] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return model.model_dump(mode="json", exclude=names), secret


def context(row: Integration) -> str:
    """Vault associated data: binds a ciphertext to its integration."""
    return f"{row.project_id}/{row.provider}/{row.name}"


def stored_raw(row: Integration, vault: Vault) -> dict[str, Any]:
    """The integration's full settings (secrets decrypted) as a plain dict."""
    secrets = vault.decrypt(row.secrets, context(row)) if row.secrets else {}
    return {**row.settings, **secrets}


def merge(
    stored: dict[str, Any], sent: dict[str, Any], secret_names: set[str], *, replace: bool = False
) -> tuple[dict[str, Any], set[str]]:
    """``sent`` over ``stored``: (the settings, the names of the secrets taken from ``stored``).

    PATCH and check (``replace=False``): a secret left out, null or sent back masked keeps its
    stored value. PUT (``replace=True``): only a masked secret does; whatever is left out is gone.
    """
    merged = {} if replace else dict(stored)
    reused = set() if replace else {n for n in secret_names if n in stored and n not in sent and stored[n]}
    for key, value in sent.items():
        if key in secret_names and key in stored and (is_masked(value) or (value is None and not replace)):
            merged[key] = stored[key]
            if stored[key]:
                reused.add(key)
        else:
            merged[key] = value
    return merged, reused


def address_fields(provider: str) -> set[str]:
    """The fields that say where the provider's requests (and so its credentials) go."""
    return set(settings_class(provider).address_field_names())


def changed_addresses(
    provider: str, stored_settings: dict[str, Any], model: ProviderSettings, raw: dict[str, Any]
) -> list[str]:
    """The address fields that differ from the stored (non-secret) settings, in ``model`` or as the
    request (``raw``, merged over the stored settings) spelled them."""
    public, _ = split(model)
    return sorted(
        name
        for name in address_fields(provider)
        if public.get(name) != stored_settings.get(name)
        or (name in raw and raw[name] != stored_settings.get(name, raw[name]))
    )


def masked_view(row: Integration, vault: Vault) -> dict[str, Any]:
    """Settings for display: non-secret values, secrets masked."""
    return displayed(row, vault)[0]


def displayed(row: Integration, vault: Vault) -> tuple[dict[str, Any], str | None]:
    """(settings for display, why the stored secrets cannot be read or None). Unreadable secrets
    show as not set (null), so the integration still shows and its secrets can be entered again."""
    view = dict(row.settings)
    problem = None
    try:
        secrets = vault.decrypt(row.secrets, context(row)) if row.secrets else {}
    except VaultError as exc:
        secrets, problem = {}, str(exc)
    for name in secret_fields(row.provider):
        if secrets.get(name):
            view[name] = mask(secrets[name])
        else:
            view[name] = None
    return view, problem


def diff(old: dict[str, Any], new: dict[str, Any], secret_names: set[str]) -> dict[str, Any]:
    """What changed, for the history: values of non-secret fields, only "changed" for secrets."""
    changes: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key in secret_names:
            changes[key] = "changed" if new.get(key) else "removed"
        else:
            changes[key] = {"old": old.get(key), "new": new.get(key)}
    return changes
