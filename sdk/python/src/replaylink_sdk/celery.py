"""Celery: tasks sent inside a request run with that request's token in the worker.

Call :func:`install` once in the code both the web process and the worker import (e.g. next to
the Celery app). Publishing adds the message header ``openReplaySessionToken``
(``before_task_publish``); the worker makes it current for the task (``task_prerun``) and resets
it afterwards (``task_postrun``). A header that is not a plausible token is ignored. Eager tasks
(``task_always_eager``/``apply()``) run in the caller's context and keep its token as it is.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from .context import is_plausible_token, token_var
from .marker import MARKER

_RESET = "replaylink_reset"
"""Attribute of ``task.request`` (one per execution) holding the ContextVar reset token."""


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    token = token_var.get()
    if token is not None and headers is not None:
        headers[MARKER] = token


def _on_prerun(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    if request is None or request.is_eager:
        return
    token = getattr(request, MARKER, None)
    setattr(request, _RESET, token_var.set(token if is_plausible_token(token) else None))


def _on_postrun(task: Any = None, **_: Any) -> None:
    reset = getattr(getattr(task, "request", None), _RESET, None)
    if reset is not None:
        token_var.reset(reset)


_CONNECTIONS = (
    (signals.before_task_publish, _on_publish),
    (signals.task_prerun, _on_prerun),
    (signals.task_postrun, _on_postrun),
)


def install() -> None:
    """Connect the publish, prerun and postrun handlers (idempotent)."""
    for signal, handler in _CONNECTIONS:
        signal.connect(handler, weak=False, dispatch_uid="replaylink" + handler.__name__)


def uninstall() -> None:
    """Disconnect the handlers."""
    for signal, handler in _CONNECTIONS:
        signal.disconnect(handler, dispatch_uid="replaylink" + handler.__name__)
