"""The current session token: one ContextVar, safe across threads and asyncio tasks."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from .marker import MARKER

if TYPE_CHECKING:
    from typing_extensions import TypeGuard

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

token_var: ContextVar[str | None] = ContextVar("openReplaySessionToken", default=None)
"""Holds the token of the request being handled. Integrations only ever store plausible tokens."""

MIN_LENGTH = 16
MAX_LENGTH = 99


def get_token() -> str | None:
    """The session token of the current request or job, or None outside one."""
    return token_var.get()


def is_plausible_token(value: object) -> TypeGuard[str]:
    """True for a string of 16..99 characters from ``[0-9A-Za-z.]``, the server's token format.

    Anything else (CR/LF, ``=``, spaces, non-ASCII, oversized) is rejected, so a hostile header
    can never inject text into a log line or a Sentry tag.
    """
    return (
        isinstance(value, str)
        and MIN_LENGTH <= len(value) <= MAX_LENGTH
        and value.isascii()
        and value.replace(".", "").isalnum()
    )


class use_token:  # lower case: used like a function, ``with use_token(t):`` / ``@use_token(t)``
    """Make ``token`` current inside a block or a function, e.g. a background job.

    An implausible token (or None) means "no token" inside the block. As a decorator it works on
    plain and ``async def`` functions and sets the token around each call.
    """

    def __init__(self, token: str | None) -> None:
        self.token = token if is_plausible_token(token) else None
        self._resets: list[Token[str | None]] = []

    def __enter__(self) -> str | None:
        self._resets.append(token_var.set(self.token))
        return self.token

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.token is not None and isinstance(exc, Exception):
            annotate(exc, self.token)
        token_var.reset(self._resets.pop())

    def __call__(self, func: F) -> F:
        token = self.token
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                return await await_with_token(token, func, *args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            return call_with_token(token, func, *args, **kwargs)

        return cast(F, run)


def call_with_token(token: str | None, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``func`` with ``token`` current; an exception escaping it gets the token as a note."""
    reset = token_var.set(token)
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        if token is not None:
            annotate(exc, token)
        raise
    finally:
        token_var.reset(reset)


async def await_with_token(
    token: str | None, func: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
) -> T:
    """The ``async`` twin of :func:`call_with_token` (the whole await runs with the token)."""
    reset = token_var.set(token)
    try:
        return await func(*args, **kwargs)
    except Exception as exc:
        if token is not None:
            annotate(exc, token)
        raise
    finally:
        token_var.reset(reset)


def annotate(exc: BaseException, token: str) -> None:
    """Attach ``openReplaySessionToken=<token>`` to ``exc`` as a PEP 678 note (see :func:`noted_token`).

    The exception keeps its type, args and message, so ``except`` clauses and code that
    inspects it are unaffected. Python 3.11+ prints notes in tracebacks; on 3.9/3.10 the
    ``__notes__`` list is still read by sentry-sdk and the exceptiongroup backport.
    """
    note = f"{MARKER}={token}"
    notes = getattr(exc, "__notes__", [])
    if not isinstance(notes, list) or note in notes:
        return  # already noted, or someone else's odd ``__notes__``: left as it is
    try:
        if sys.version_info >= (3, 11):
            exc.add_note(note)
        else:
            setattr(exc, "__notes__", [*notes, note])  # noqa: B010 (no attribute before 3.11)
    except (AttributeError, TypeError):
        pass  # an exception that refuses attributes propagates unchanged


def noted_token(exc: BaseException | None) -> str | None:
    """The plausible token :func:`annotate` attached to ``exc``, if any.

    Lets code that handles an exception after its request ended (the server's error log, Sentry's
    outer middleware) still attribute it to the session.
    """
    notes = getattr(exc, "__notes__", None)
    start = MARKER + "="
    for note in notes if isinstance(notes, list) else ():
        value = note[len(start) :] if isinstance(note, str) and note.startswith(start) else None
        if is_plausible_token(value):
            return value
    return None
