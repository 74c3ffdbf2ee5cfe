"""The provider base: record bounds."""

from __future__ import annotations

from datetime import UTC, datetime

from replaylink.providers.base import Limits, Record, bound_record


def test_bound_record_replaces_nul_and_bounds_sizes() -> None:
    record = Record(
        provider_id="1",
        timestamp=datetime(2026, 1, 1),
        message="a\x00b" + "x" * 100,
        title="t\x00",
        attributes={"k\x00": ["v\x00"], "big": "y" * 500},
    )
    bound_record(record, Limits(message_bytes=50, attributes_bytes=200))
    assert "\x00" not in record.message and len(record.message.encode()) <= 50
    assert record.title == "t\ufffd"
    assert record.attributes["_truncated"] is True
    assert record.attributes["k\ufffd"] == ["v\ufffd"]
    assert record.timestamp.tzinfo is UTC
