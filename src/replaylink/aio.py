"""Call async provider I/O from the synchronous code the server runs in its worker threads."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def run_async(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``fn()`` on the server's event loop from one of its worker threads, and wait for it."""
    return anyio.from_thread.run(fn)
