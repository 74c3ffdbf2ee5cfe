"""Fixtures of the integration settings API tests (defined in support.py)."""

from tests.integrations_api.support import (  # noqa: F401 - pytest finds fixtures by name
    api,
    leaks,
    peers,
    private_api,
    settings,
    world,
)
