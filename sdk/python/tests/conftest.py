"""Shared fixtures: a log capture with the SDK's logging installed (and removed afterwards)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sdk_support import LogCapture

from replaylink_sdk import logging as sdk_logging

NEW_LOGGER: tuple[list[logging.Handler], int, bool, bool] = ([], logging.NOTSET, True, False)


def logging_state() -> dict[str, object]:
    """What a test could leave changed in logging (pytest's handlers and libraries' NullHandlers aside)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    state: dict[str, object] = {"factory": logging.getLogRecordFactory()}
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            handlers = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
            handlers = [h for h in handlers if not type(h).__module__.startswith("_pytest")]
            state[logger.name] = (handlers, logger.level, logger.propagate, logger.disabled)
    return state


@contextmanager
def logging_unchanged() -> Iterator[None]:
    """Fails when the block leaves the record factory, a handler or a logger setting changed."""
    before = logging_state()
    yield
    after = logging_state()
    assert after == {name: before.get(name, NEW_LOGGER) for name in after}


@pytest.fixture(autouse=True)
def each_test_leaves_logging_as_found() -> Iterator[None]:
    with logging_unchanged():
        yield


@pytest.fixture(autouse=True, scope="session")
def the_session_leaves_logging_as_found() -> Iterator[None]:
    """Also covers module fixtures such as the Celery worker."""
    with logging_unchanged():
        yield


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """SDK logging installed; ``logging.getLogger("app")`` writes into the capture only."""
    capture = LogCapture()
    logger = logging.getLogger("app")
    logger.addHandler(capture.handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    sdk_logging.install()
    try:
        yield capture
    finally:
        sdk_logging.uninstall()
        logger.removeHandler(capture.handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
