"""Finding tokens in provider records (``importer.extract``) and grouping them (``fingerprint``):
pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from replaylink.fingerprint import fingerprint, normalise
from replaylink.importer.extract import record_tokens, tokens_in_attributes
from replaylink.providers.base import Limits, Record, bound_record


def test_a_top_level_attribute_is_the_token() -> None:
    assert tokens_in_attributes({"openReplaySessionToken": " abc.DEF.123 ", "http": {"status": 500}}) == [
        "abc.DEF.123"
    ]


def test_an_attribute_holding_the_marker_text_or_anything_else() -> None:
    assert tokens_in_attributes({"openReplaySessionToken": "openReplaySessionToken=t1.x; more"}) == ["t1.x"]
    assert tokens_in_attributes({"openReplaySessionToken": "not a token!"}) == ["not a token!"]
    assert tokens_in_attributes({"openReplaySessionToken": ""}) == []
    assert tokens_in_attributes({"openReplaySessionToken": 5}) == []


def test_nested_and_several_tokens_are_all_found() -> None:
    attributes = {
        "openReplaySessionToken": "top1",
        "tags": ["openReplaySessionToken=inlist2", {"openReplaySessionToken": "nested3"}],
        "message": "retry of [openReplaySessionToken=inmsg4]",
    }
    assert sorted(tokens_in_attributes(attributes)) == ["inlist2", "inmsg4", "nested3", "top1"]
    assert tokens_in_attributes({"context": {"openReplaySessionToken": "deep1"}}) == ["deep1"]
    assert tokens_in_attributes([{"openReplaySessionToken": "inlist1"}]) == ["inlist1"]
    assert tokens_in_attributes({"http": {"status": 500}}) == []


def test_record_tokens_are_distinct_in_order() -> None:
    record = Record(
        provider_id="r1",
        timestamp=datetime(2026, 3, 2, tzinfo=UTC),
        message="[openReplaySessionToken=a1] failed, see openReplaySessionToken=b2.",
        attributes={"openReplaySessionToken": "a1"},
    )
    assert record_tokens(record) == ["a1", "b2"]


def test_the_marker_never_changes_a_fingerprint() -> None:
    assert normalise("[openReplaySessionToken=abc.def] Payment 42 failed") == "payment <> failed"
    assert normalise("Payment 42 failed") == "payment <> failed"
    assert fingerprint("datadog", "ValueError", "[openReplaySessionToken=x.y] bad 1") == fingerprint(
        "datadog", "ValueError", "bad 2"
    )


def test_tokens_survive_the_records_size_limits() -> None:
    """A traceback longer than the stored message names the token on its last line, and a large
    attribute may come before the token's: both records still attach once bounded."""
    traceback = "Traceback (most recent call last):\n" + '  File "app.py", line 1, in f\n' * 1000
    long = Record(
        provider_id="1",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        message=traceback + "ValueError: [openReplaySessionToken=s1.tail.TOKEN] card declined",
    )
    bound_record(long, Limits())
    assert len(long.message.encode()) < Limits().message_bytes + 200
    assert record_tokens(long) == ["s1.tail.TOKEN"]
    behind = Record(
        provider_id="2",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        message="checkout failed",
        attributes={"request_body": "x" * 70_000, "openReplaySessionToken": "s1.attr.TOKEN"},
    )
    bound_record(behind, Limits())
    assert behind.attributes["_truncated"] is True
    assert record_tokens(behind) == ["s1.attr.TOKEN"]
