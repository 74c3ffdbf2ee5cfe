"""structlog processor with real structlog rendering JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from sdk_support import TOKEN

from replaylink_sdk import use_token
from replaylink_sdk.structlog import SessionTokenProcessor


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    structlog.configure(
        processors=[SessionTokenProcessor(), structlog.processors.JSONRenderer(sort_keys=True)],
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    try:
        yield stream
    finally:
        structlog.reset_defaults()


def test_inside_a_request_key_and_prefix_are_added(output: io.StringIO) -> None:
    with use_token(TOKEN):
        structlog.get_logger().error("payment failed", order=7)
    assert json.loads(output.getvalue()) == {
        "event": f"[openReplaySessionToken={TOKEN}] payment failed",
        "openReplaySessionToken": TOKEN,
        "order": 7,
    }


def test_outside_a_request_events_are_untouched(output: io.StringIO) -> None:
    structlog.get_logger().error("payment failed", order=7)
    assert json.loads(output.getvalue()) == {"event": "payment failed", "order": 7}


def test_prefix_is_configurable_and_never_doubled() -> None:
    processor = SessionTokenProcessor(prefix="openReplaySessionToken={token} ")
    with use_token(TOKEN):
        once = processor(None, "info", {"event": "hi"})
        twice = processor(None, "info", dict(once))
    assert once == twice == {"event": f"openReplaySessionToken={TOKEN} hi", "openReplaySessionToken": TOKEN}
