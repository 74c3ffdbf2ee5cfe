"""Shared provider-test fixtures."""

from __future__ import annotations

import pytest


class Sleeps:
    """A fake ``ProviderOptions.sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
