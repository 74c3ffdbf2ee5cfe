"""Provider registry: one module per log provider, all behind :class:`~.base.Provider`.

Adding a provider means adding its module and one line to ``_REGISTRY``.
"""

from __future__ import annotations

import importlib

from replaylink.providers.base import (
    AuthError,
    NotFound,
    Provider,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    ProviderSettings,
    Query,
    RateLimited,
    Record,
    Unreachable,
)

_REGISTRY: dict[str, str] = {
    "datadog": "replaylink.providers.datadog:DatadogProvider",
    "sentry": "replaylink.providers.sentry:SentryProvider",
    "sumologic": "replaylink.providers.sumologic:SumoLogicProvider",
    "cloudwatch": "replaylink.providers.cloudwatch:CloudWatchProvider",
    "elasticsearch": "replaylink.providers.elasticsearch:ElasticsearchProvider",
}


class UnknownProvider(KeyError):
    """Raised by :func:`get` for a name that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown provider {self.args[0]!r}; choose one of: {', '.join(names())}"


def names() -> list[str]:
    """Every provider name, in a stable order."""
    return list(_REGISTRY)


def get(name: str) -> type[Provider]:
    """The provider class registered under ``name``."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownProvider(name) from None
    module_name, _, attr = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
    return cls


__all__ = [
    "AuthError",
    "NotFound",
    "Provider",
    "ProviderError",
    "ProviderOptions",
    "ProviderPermissionError",
    "ProviderSettings",
    "Query",
    "RateLimited",
    "Record",
    "UnknownProvider",
    "Unreachable",
    "get",
    "names",
]
