"""Open an integration's provider with the process's outbound guard, timeouts and size limits.

The importer, the on-demand path and the settings check all open providers here, so every
provider meets the same guard whoever asks.
"""

from __future__ import annotations

import functools

from replaylink import outbound, providers
from replaylink.config import Settings
from replaylink.integrations.settings import stored_raw, validate
from replaylink.metrics import RATE_LIMIT_WAITS
from replaylink.providers.base import Limits, Provider, ProviderOptions, ProviderSettings
from replaylink.store.models import Integration
from replaylink.vault import Vault


def provider_options(settings: Settings, provider: str) -> ProviderOptions:
    """The provider's own ``Options``, built from every knob the server offers (it takes what it needs)."""
    counter = RATE_LIMIT_WAITS.labels(provider)
    return providers.get(provider).make_options(
        on_rate_limit=lambda _wait: counter.inc(),
        request_timeout=settings.provider_timeout_seconds,
        max_retries=settings.provider_retries,
        backoff_base=settings.provider_backoff_seconds,
        max_rate_limit_wait=settings.provider_max_rate_limit_wait_seconds,
        limits=Limits(
            message_bytes=settings.message_max_bytes, attributes_bytes=settings.attributes_max_bytes
        ),
        transport_factory=outbound.transport_factory(settings.block_private_networks),
        address_guard=functools.partial(
            outbound.resolve_checked, block_private=settings.block_private_networks
        ),
    )


def open_provider(provider: str, model: ProviderSettings, settings: Settings) -> Provider:
    return providers.get(provider)(model, provider_options(settings, provider))


def open_stored(
    row: Integration, vault: Vault, settings: Settings, options: ProviderOptions | None = None
) -> Provider:
    """The provider of a stored integration, ready to query (``options`` default: the importer's)."""
    model = validate(row.provider, stored_raw(row, vault), block_private=settings.block_private_networks)
    return providers.get(row.provider)(model, options or provider_options(settings, row.provider))
