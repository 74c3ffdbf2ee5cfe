"""The integration use case: save, patch, check, delete, pause, resume, re-encrypt, history.

Routers and the CLI call these functions inside their own database transaction; the functions
validate, run the provider's check, merge masked secrets, encrypt, reset the health and record
the history. A refusal raises :class:`Refused` (``code`` and one sentence for the user), which
the API turns into its error envelope.

Stored secrets never follow a changed address: when a request changes any address field of a
stored integration (``base_url``, ``host``, ``region``...), every stored secret it would reuse
must be entered again, or the request is refused before anything is sent anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy.orm import Session

from replaylink import providers
from replaylink.aio import run_async
from replaylink.integrations import settings as rules
from replaylink.integrations.connect import open_provider
from replaylink.integrations.failures import describe
from replaylink.providers.base import Provider, ProviderError, ProviderSettings
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.models import Integration, IntegrationChange
from replaylink.vault import Vault, VaultError

CHECK_TIMEOUT = 60.0
"""Seconds a provider has to answer a check."""


class Refused(Exception):
    """The request cannot be carried out: ``code``, one sentence for the user, and details."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Missing(Refused):
    """The integration (or provider) does not exist."""

    def __init__(self, what: str, code: str = "not_found", message: str | None = None) -> None:
        super().__init__(code, message or f"{what} was not found, or your API key cannot see it.")


class Exists(Refused):
    """A create-only save found the integration already there."""

    def __init__(self, provider: str, name: str) -> None:
        super().__init__(
            "already_exists",
            f"An integration {provider}/{name[:64]} already exists; edit it (PATCH) or delete it first.",
        )


@dataclass
class Saved:
    row: Integration
    created: bool


@dataclass
class Reencryption:
    """What ``keys rotate`` did, integration by integration (``provider/name (project N)``)."""

    key_id: str
    reencrypted: list[str] = field(default_factory=list)
    already_current: list[str] = field(default_factory=list)
    without_secrets: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- lookups and rules


def require_provider(name: str) -> type[Provider]:
    try:
        return providers.get(name)
    except providers.UnknownProvider:
        raise Missing(
            "provider",
            "unknown_provider",
            f"Unknown provider {name[:32]!r}; choose one of: {', '.join(providers.names())}.",
        ) from None


def require_name(name: str) -> None:
    if not rules.NAME_RE.fullmatch(name):
        raise Refused(
            "invalid_name",
            "Integration names use a-z, 0-9, '-' and '_' (1 to 64 characters), e.g. 'default'.",
        )


def find(db: Session, project_id: int, provider: str, name: str) -> Integration | None:
    require_provider(provider)
    return store.find(db, project_id, provider, name)


def list_for_project(db: Session, project_id: int) -> list[Integration]:
    return store.list_for_project(db, project_id)


def get(db: Session, project_id: int, provider: str, name: str) -> Integration:
    row = find(db, project_id, provider, name)
    if row is None:
        raise Missing(f"Integration {provider}/{name[:64]}")
    return row


def validated(rt: Runtime, provider: str, raw: dict[str, Any]) -> ProviderSettings:
    try:
        return rules.validate(provider, raw, block_private=rt.settings.block_private_networks)
    except rules.InvalidSettings as exc:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in exc.problems[:5])
        raise Refused("invalid_settings", f"Fix these settings: {summary}", exc.problems) from None


def refuse_stored_secrets_at_new_address(
    row: Integration | None, model: ProviderSettings, reused: set[str], raw: dict[str, Any]
) -> None:
    """422 when a request moves a stored integration to another address with stored secrets.

    An address field counts as changed when the request's value differs from the stored one, even
    where validation makes it moot (Elasticsearch's ``port`` when ``host`` carries its own port).
    """
    if row is None or not reused:
        return
    moved = rules.changed_addresses(row.provider, row.settings, model, raw)
    if not moved:
        return
    names = sorted(reused)
    raise Refused(
        "secrets_required",
        f"Changing {', '.join(moved)} sends the credentials to a new address, so the stored ones are "
        f"not used: enter {', '.join(names)} again.",
        [{"field": name, "message": "enter this secret again (the address changed)"} for name in names],
    )


def run_check(rt: Runtime, provider: str, model: ProviderSettings) -> None:
    """Refuse (``check_failed``, described for the user) unless the provider accepts ``model``."""

    async def check() -> None:
        with anyio.fail_after(CHECK_TIMEOUT):
            async with open_provider(provider, model, rt.settings) as instance:
                await instance.check()

    label = require_provider(provider).label
    try:
        run_async(check)
    except (ProviderError, TimeoutError) as exc:
        failure = describe(exc, label, action="checking", timeout=CHECK_TIMEOUT)
        message = failure.message
        if isinstance(exc, ProviderError):
            message = f"{label} refused these settings: {failure.message}"
        raise Refused("check_failed", message, failure.details()) from None


def _stored(rt: Runtime, row: Integration, sent: dict[str, Any], secret_names: set[str]) -> dict[str, Any]:
    """The stored settings, secrets decrypted. When the secrets cannot be decrypted (their key is
    gone) only the non-secret settings, if ``sent`` enters the secrets again (the fix); else
    refused (``credentials_unreadable``, 422) with what to do."""
    try:
        return rules.stored_raw(row, rt.vault)
    except VaultError as exc:
        entered = [n for n in secret_names if sent.get(n) and not rules.is_masked(sent[n])]
        masked = [n for n in secret_names if rules.is_masked(sent.get(n))]
        if entered and not masked:
            return dict(row.settings)
        raise Refused(
            "credentials_unreadable",
            str(exc),
            [{"field": n, "message": "enter this secret again"} for n in sorted(secret_names)],
        ) from None


def _store(rt: Runtime, row: Integration, model: ProviderSettings) -> None:
    public, secrets = rules.split(model)
    row.settings = public
    row.secrets = rt.vault.encrypt(secrets, rules.context(row)) if secrets else None
    row.updated_at = datetime.now(UTC)


def _poll_soon(row: Integration) -> None:
    """New settings: clear "needs attention" and poll at once."""
    row.needs_attention = False
    row.next_poll_at = datetime.now(UTC)


# --------------------------------------------------------------------------- use cases


def save(
    db: Session,
    rt: Runtime,
    *,
    project_id: int,
    provider: str,
    name: str,
    sent: dict[str, Any],
    poll_interval: float | None,
    check: bool,
    actor: str,
    create_only: bool = False,
) -> Saved:
    """Create or replace; saved only when the provider's check passes (unless ``check`` is off).
    ``create_only``: :class:`Exists` when the integration is already there (never replaced).

    A secret sent back masked (as GET shows it) keeps its stored value: a mask is never saved.
    """
    require_provider(provider)
    require_name(name)
    row = store.find(db, project_id, provider, name)
    if create_only and row is not None:
        raise Exists(provider, name)
    secret_names = rules.secret_fields(provider)
    old = _stored(rt, row, sent, secret_names) if row is not None else {}
    raw, reused = rules.merge(old, sent, secret_names, replace=True)
    model = validated(rt, provider, raw)
    refuse_stored_secrets_at_new_address(row, model, reused, raw)
    if check:
        run_check(rt, provider, model)
    created = row is None
    if row is None:
        row = store.create(
            db,
            project_id=project_id,
            provider=provider,
            name=name,
            settings={},
            secrets=None,
            poll_interval=poll_interval or rt.settings.poll_interval_seconds,
            lookback=timedelta(seconds=rt.settings.initial_lookback_seconds),
        )
    elif poll_interval:
        row.poll_interval_seconds = poll_interval
    _store(rt, row, model)
    _poll_soon(row)
    changes = rules.diff(old, rules.stored_raw(row, rt.vault), secret_names)
    store.record_change(db, row, "created" if created else "replaced", actor, changes)
    return Saved(row, created)


def patch(
    db: Session,
    rt: Runtime,
    row: Integration,
    *,
    sent: dict[str, Any],
    poll_interval: float | None,
    check: bool,
    actor: str,
) -> Integration:
    """Partial update: a secret left out (or sent back masked) keeps its stored value."""
    secret_names = rules.secret_fields(row.provider)
    old = _stored(rt, row, sent, secret_names)
    merged, reused = rules.merge(old, sent, secret_names)
    model = validated(rt, row.provider, merged)
    refuse_stored_secrets_at_new_address(row, model, reused, merged)
    if check and sent:
        run_check(rt, row.provider, model)
    _store(rt, row, model)
    changes = rules.diff(old, rules.stored_raw(row, rt.vault), secret_names)
    if poll_interval and poll_interval != row.poll_interval_seconds:
        changes["poll_interval_seconds"] = {"old": row.poll_interval_seconds, "new": poll_interval}
        row.poll_interval_seconds = poll_interval
    if sent:
        _poll_soon(row)
    store.record_change(db, row, "updated", actor, changes)
    return row


def check(
    db: Session, rt: Runtime, *, project_id: int, provider: str, name: str, sent: dict[str, Any], actor: str
) -> str:
    """Check the stored settings, or ``sent`` merged over them, without saving; the user message.

    A check of a stored integration with (valid) settings in the request is recorded in its
    history (who, when, which fields; never values) and committed before anything else, so a
    refused check, or one that tried to send the stored secrets elsewhere, is recorded too.
    """
    row = find(db, project_id, provider, name)
    if row is None and not sent:
        raise Missing(f"Integration {provider}/{name[:64]}")
    secret_names = rules.secret_fields(provider)
    stored = _stored(rt, row, sent, secret_names) if row is not None else {}
    merged, reused = rules.merge(stored, sent, secret_names)
    model = validated(rt, provider, merged)
    if row is not None and sent:
        store.record_change(db, row, "checked", actor, {"fields": sorted(sent)})
        db.commit()  # recorded even when refused below; no transaction held while the provider answers
    refuse_stored_secrets_at_new_address(row, model, reused, merged)
    run_check(rt, provider, model)
    return f"{require_provider(provider).label} accepted these settings."


def delete(db: Session, row: Integration, *, purge_events: bool, actor: str) -> int:
    """Stop polling and delete the settings; imported events stay unless ``purge_events``."""
    store.record_change(db, row, "deleted", actor, {"purge_events": purge_events})
    return store.remove(db, row, purge_events)


def set_paused(db: Session, row: Integration, paused: bool, *, actor: str) -> Integration:
    """Pause or resume polling (a no-op, unrecorded, when already so)."""
    if row.paused != paused:
        row.paused = paused
        row.updated_at = datetime.now(UTC)
        if not paused:
            row.next_poll_at = datetime.now(UTC)
        store.record_change(db, row, "paused" if paused else "resumed", actor)
    return row


def history(db: Session, project_id: int, provider: str, name: str) -> list[IntegrationChange]:
    """Who changed what and when, newest first (secret values are never recorded)."""
    require_provider(provider)
    return store.history(db, project_id, provider, name)


def health_status(row: Integration) -> str:
    """ok, pending, failing, needs_attention or paused."""
    if row.paused:
        return "paused"
    if row.needs_attention:
        return "needs_attention"
    if row.consecutive_failures:
        return "failing"
    return "pending" if row.last_success_at is None else "ok"


def reencrypt(db: Session, vault: Vault) -> Reencryption:
    """Re-encrypt every stored credential under the vault's current key, and say what was skipped."""
    done = Reencryption(vault.current_id)
    for row in store.list_all(db):
        label = f"{row.provider}/{row.name} (project {row.project_id})"
        if not row.secrets:
            done.without_secrets.append(label)
        elif Vault.key_id_of(row.secrets) == vault.current_id:
            done.already_current.append(label)
        else:
            row.secrets = vault.reencrypt(row.secrets, rules.context(row))
            done.reencrypted.append(label)
    return done
