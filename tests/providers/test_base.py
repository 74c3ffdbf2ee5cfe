"""The provider base: record bounds, settings flags."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from replaylink import providers
from replaylink.providers import coerce
from replaylink.providers.base import (
    MAX_RETRY_AFTER,
    Limits,
    ProviderOptions,
    ProviderSettings,
    RateLimited,
    Record,
    StackFrame,
    address_field,
    bound_record,
    url_field,
)
from replaylink.providers.http import backoff_delay


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


def test_bound_record_replaces_lone_surrogates_everywhere() -> None:
    """JSON may escape a lone surrogate (``"\\ud800"``); UTF-8 cannot encode it, and one such
    record failed its whole chunk's insert, for good."""
    record = Record(
        provider_id="id\ud800",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        message="boom \ud800 [openReplaySessionToken=1.a.b]",
        service="svc\udfff",
        attributes={"k\udc00": ["v\ud800", {"nested": "\udbff"}]},
        stack=[StackFrame(filename="app\ud800.py", function="f")],
    )
    bound_record(record, Limits())
    assert record.message == "boom \ufffd [openReplaySessionToken=1.a.b]"
    assert (record.provider_id, record.service) == ("id\ufffd", "svc\ufffd")
    assert record.attributes == {"k\ufffd": ["v\ufffd", {"nested": "\ufffd"}]}
    assert record.stack is not None and record.stack[0].filename == "app\ufffd.py"
    assert bound_record(record, Limits()).message.encode()  # encodes now


def test_a_rate_limit_wait_is_bounded_whatever_the_provider_says() -> None:
    for asked, kept in ((120, 120.0), (-5, 0.0), (1e12, MAX_RETRY_AFTER), (math.inf, MAX_RETRY_AFTER)):
        assert RateLimited("slow down", retry_after=asked).retry_after == kept
    assert RateLimited("slow down", retry_after=math.nan).retry_after == MAX_RETRY_AFTER


ADDRESS_FIELDS = {
    "datadog": ["site", "base_url"],
    "sentry": ["base_url"],
    "sumologic": ["deployment", "base_url"],
    "cloudwatch": ["region", "endpoint_url"],
    "elasticsearch": ["host", "port"],
}


@pytest.mark.parametrize("name", providers.names())
def test_address_fields_are_flagged_in_the_schema(name: str) -> None:
    settings = providers.get(name).Settings
    schema = settings.model_json_schema()["properties"]
    flagged = [field for field, prop in schema.items() if prop.get("address") is True]
    assert settings.address_field_names() == flagged == ADDRESS_FIELDS[name]
    assert not set(flagged) & set(settings.secret_field_names())
    for field in settings.url_field_names():
        assert schema[field]["format"] == "uri"


class _Toy(ProviderSettings):
    endpoint: str = address_field("Endpoint", url=True, default="https://a.example")
    where: str = address_field("Where", default="a.example", json_schema_extra={"enum": ["a.example"]})
    docs: str | None = url_field("Docs", default=None)
    other: str = "x"


def test_address_and_url_helpers() -> None:
    assert _Toy.address_field_names() == ["endpoint", "where"]
    assert _Toy.url_field_names() == ["endpoint", "docs"]
    props = _Toy.model_json_schema()["properties"]
    assert props["where"]["enum"] == ["a.example"] and props["where"]["address"] is True
    assert "address" not in props["docs"] and "address" not in props["other"]


def test_backoff_draws_from_the_upper_half_of_its_ceiling() -> None:
    options = ProviderOptions(backoff_base=0.5, backoff_cap=8.0)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [backoff_delay(attempt, options) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), attempt


def test_coercions_never_raise_on_wrong_types() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert coerce.epoch_ms(moment) == 1767323045678
    assert coerce.epoch_ms(moment, ceil=True) == 1767323045679
    assert coerce.epoch_ms(moment.replace(microsecond=678000), ceil=True) == 1767323045678
    assert coerce.from_epoch_ms("1767323045678") == moment.replace(microsecond=678000)
    assert [coerce.from_epoch_ms(v) for v in (None, "x", True, 10**30)] == [None] * 4
    assert coerce.parse_time("2026-01-02T03:04:05") == moment.replace(microsecond=0)
    assert coerce.parse_time(1767323045) is None
    for value in (1767323045, 1767323045000, "1767323045000", 1767323045000000, 1767323045000000000):
        assert coerce.parse_time(value, epochs=True) == moment.replace(microsecond=0), value
    assert [coerce.parse_time(v, epochs=True) for v in ("soon", True, None, 1e300)] == [None] * 4
    assert (coerce.as_dict([1]), coerce.as_list({}), coerce.as_text(""), coerce.as_int(True)) == (
        {},
        [],
        None,
        None,
    )
    assert coerce.joined_text(["a", ["b", None], 3]) == "a\nb\n\n3"
