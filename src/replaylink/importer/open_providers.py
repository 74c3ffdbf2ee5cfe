"""A worker's providers, kept open between polls of the same integration.

Opening a provider per poll decrypted its secrets, validated its settings and built a new HTTP
client (so a new TCP and TLS connection) for every poll of every integration, every 15 s. A worker
keeps each integration's provider open instead, and opens a new one when the stored settings or
secrets differ from the ones it was opened with (a save or a key rotation writes new ones), after
a poll that failed, and beyond ``limit`` open providers (the least recently polled is closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replaylink.importer.leases import Lease
from replaylink.providers.base import Provider

log = logging.getLogger("replaylink.importer")

LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class _Opened:
    provider_name: str
    settings: dict[str, Any]
    secrets: str | None
    provider: Provider

    def serves(self, lease: Lease) -> bool:
        """Opened from exactly the settings and (encrypted) secrets this lease read."""
        return (
            self.provider_name == lease.provider
            and self.secrets == lease.secrets
            and self.settings == lease.settings
        )


class OpenProviders:
    """Providers by integration id; one event loop uses it (a worker's), so no locking."""

    def __init__(self, opener: Callable[[Lease], Provider], limit: int = LIMIT) -> None:
        self._opener = opener
        self._limit = limit
        self._open: OrderedDict[int, _Opened] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, integration_id: int) -> Provider | None:
        """The integration's open provider, if any."""
        opened = self._open.get(integration_id)
        return opened.provider if opened is not None else None

    async def acquire(self, lease: Lease) -> Provider:
        """The integration's open provider, or a new one (raises what opening raises)."""
        opened = self._open.get(lease.integration_id)
        if opened is not None and opened.serves(lease):
            self._open.move_to_end(lease.integration_id)
            return opened.provider
        await self.discard(lease.integration_id)
        provider = self._opener(lease)
        self._open[lease.integration_id] = _Opened(lease.provider, lease.settings, lease.secrets, provider)
        while len(self._open) > self._limit:
            oldest = next(iter(self._open))
            await self.discard(oldest)
        return provider

    async def discard(self, integration_id: int) -> None:
        """Close the integration's provider, if open (after a failure: the next poll starts afresh)."""
        opened = self._open.pop(integration_id, None)
        if opened is not None:
            await _close(opened.provider)

    async def aclose(self) -> None:
        """Close every provider, concurrently (the worker stops: thousands may be open)."""
        opened, self._open = list(self._open.values()), OrderedDict()
        await asyncio.gather(*(_close(item.provider) for item in opened))


async def _close(provider: Provider) -> None:
    try:
        await provider.aclose()
    except Exception:  # a connection that fails to close must not stop the worker
        log.warning("closing %r failed", provider, exc_info=True)
