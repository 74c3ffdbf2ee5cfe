"""Standard ``logging``: tag every record created inside a request, with one ``install()`` call.

Why a LogRecordFactory rather than a Filter on the root handlers: a handler filter only sees
records that reach that handler, so it misses loggers with their own handlers and
``propagate=False`` and handlers added later. The factory is called for every record of every
logger, in the thread or task that logs (so the token is right even when a QueueHandler formats
the record elsewhere). It chains to the factory that was installed before it.

A record created while a token is current gets the attribute ``openReplaySessionToken`` (usable
as ``%(openReplaySessionToken)s`` or by JSON formatters) and its ``getMessage()`` is prefixed:
``[openReplaySessionToken=<token>] message``. ``record.msg`` and ``record.args`` are untouched, so
Sentry still groups log events by their template. Records created outside a request are left
exactly as they were, except the record of an exception that escaped a request (the server's
"Exception in ASGI application"): it is tagged from the exception's note. Do not pass
``extra={"openReplaySessionToken": ...}`` yourself: logging refuses to overwrite an attribute
the factory already set.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from .context import noted_token, token_var
from .marker import DEFAULT_PREFIX, MARKER, Prefix

RecordFactory = Callable[..., logging.LogRecord]


_prefix = Prefix()
"""The prefix template in use (set by :func:`install`)."""


class TokenLogRecord(logging.LogRecord):
    """A record created inside a request: its message carries the token prefix."""

    openReplaySessionToken: str  # the MARKER attribute, set on each instance by the factory

    def getMessage(self) -> str:
        # LogRecord.getMessage and Prefix.apply inlined: each Python call (or a super object)
        # per record is a sizeable part of what the SDK adds to a log call
        token = self.openReplaySessionToken
        last_token, prefix = _prefix.last
        if token is not last_token:
            prefix = _prefix.render(token)
        message = str(self.msg)
        if self.args:
            message = message % self.args
        return message if prefix in message else prefix + message


_TOKEN_CLASSES: dict[type[logging.LogRecord], type[logging.LogRecord]] = {logging.LogRecord: TokenLogRecord}


def _token_class(cls: type[logging.LogRecord]) -> type[logging.LogRecord]:
    """The class a record of class ``cls`` becomes when it carries a token (cached per class).

    A custom factory's record class gets a subclass mixing in :class:`TokenLogRecord` whose
    ``getMessage`` prefixes ``cls``'s own; such records cannot be pickled by reference (plain
    ``LogRecord`` ones can).
    """
    found = _TOKEN_CLASSES.get(cls)
    if found is None:
        if issubclass(cls, TokenLogRecord):
            found = cls
        else:
            message = cls.getMessage

            def getMessage(self: logging.LogRecord) -> str:
                return _prefix.apply(message(self), self.__dict__[MARKER])

            namespace = {"__module__": __name__, "getMessage": getMessage}
            found = type("Token" + cls.__name__, (TokenLogRecord, cls), namespace)
        _TOKEN_CLASSES[cls] = found
    return found


def _tagging(previous: RecordFactory) -> RecordFactory:
    """A record factory wrapping ``previous``: the hot path, a ContextVar read per record.

    With the stock factory (the class ``LogRecord`` itself), a record made inside a request is
    created as a :class:`TokenLogRecord` directly rather than having its class swapped.
    """
    get_token = token_var.get
    classes = _TOKEN_CLASSES

    if previous is logging.LogRecord:

        def stock(
            name: str,
            level: int,
            pathname: str,
            lineno: int,
            msg: object,
            args: Any,
            exc_info: Any,
            func: str | None = None,
            sinfo: str | None = None,
            **kwargs: Any,
        ) -> logging.LogRecord:
            # LogRecord's parameters spelled out (Logger.makeRecord passes them by position):
            # cheaper than packing and unpacking *args
            token = get_token()
            if token is None:
                record = logging.LogRecord(
                    name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs
                )
                if not isinstance(record.exc_info, tuple):
                    return record
                token = noted_token(record.exc_info[1])  # e.g. the server logging a request's error
                if token is None:
                    return record
                record.__dict__[MARKER] = token
                record.__class__ = TokenLogRecord
                return record
            tagged = TokenLogRecord(name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs)
            tagged.openReplaySessionToken = token  # MARKER as an attribute name: a faster store
            return tagged

        return stock

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        token = get_token()
        if token is None and isinstance(record.exc_info, tuple):
            token = noted_token(record.exc_info[1])  # e.g. the server logging a request's error
        if token is not None:
            record.__dict__[MARKER] = token
            record.__class__ = classes.get(record.__class__) or _token_class(record.__class__)
        return record

    return factory


_installed: tuple[RecordFactory, RecordFactory] | None = None
"""(our factory, the one it wraps) while installed."""


def install(prefix: str = DEFAULT_PREFIX) -> None:
    """Tag records created inside a request; ``prefix`` is a template containing ``{token}``.

    Calling it again replaces the previous installation (e.g. to change the prefix).
    """
    global _installed, _prefix
    template = Prefix(prefix)
    uninstall()
    _prefix = template
    previous = logging.getLogRecordFactory()
    factory = _tagging(previous)
    logging.setLogRecordFactory(factory)
    _installed = (factory, previous)


def uninstall() -> None:
    """Restore the record factory found by :func:`install` (if ours is still the current one)."""
    global _installed, _prefix
    if _installed is None:
        return
    factory, previous = _installed
    if logging.getLogRecordFactory() is factory:
        logging.setLogRecordFactory(previous)
    _installed = None
    _prefix = Prefix()
