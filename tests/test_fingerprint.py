"""Fingerprints are stored with every event and key every error group: the same message must give
the same fingerprint in every version (a change would split each stored group in two)."""

from __future__ import annotations

import pytest

from replaylink.fingerprint import fingerprint, normalise

GOLDEN = [
    (
        ("datadog", None, "payment failed for order 1234: card declined"),
        "payment failed for order <>: card declined",
        "3db7618f89f3dfd7900b62e985d6a105",
    ),
    (
        (
            "sentry",
            "ValueError",
            "ValueError: bad amount 12.50 for order 550e8400-e29b-41d4-a716-446655440000",
        ),
        "valueerror: bad amount <> for order <>",
        "983204e2e61721c204b8e9adb4c2b7e5",
    ),
    (
        (
            "cloudwatch",
            None,
            "[openReplaySessionToken=abc.DEF.123] upstream   error\tat 0x7ffee3b2 (request deadbeefcafe1234)",
        ),
        "upstream error at <> (request <>)",
        "d3992f99d5ee48d0a237f14fb1d54c41",
    ),
    (
        ("sumologic", "KeyError", "KeyError: 'user_id'  \u00a0 from \"cart\" v1.2.3\nsecond line 42"),
        "keyerror: <> from <> v<>",
        "5fa282e417ce264d2c14f26f02bd45b7",
    ),
    (
        ("elasticsearch", None, "  Timeout\u2003after 30s talking to 10.0.0.12:5432  "),
        "timeout after <>s talking to <>:<>",
        "f5b270be75cd994ba90f29f1e8f279d0",
    ),
]


@pytest.mark.parametrize(("arguments", "normalised", "expected"), GOLDEN)
def test_fingerprints_never_change(
    arguments: tuple[str, str | None, str], normalised: str, expected: str
) -> None:
    assert normalise(arguments[2]) == normalised
    assert fingerprint(*arguments) == expected


def test_volatile_values_only_are_replaced() -> None:
    assert normalise("cafe 0xZZ abcdef12345 abcdef123456 'x' \"y\"") == "cafe <>xzz abcdef<> <> <> <>"
    assert normalise("\u00a0\u2003 a \u3000 b \x1f") == "a b"
