"""A window's signed pieces count every moment inside it once and every moment outside it zero times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from replaylink.store.window_pieces import HOUR, Buckets, Events, Piece, pieces

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def weight(parts: list[Piece], t: datetime) -> int:
    """How many times the pieces count an event at ``t``."""
    total = 0
    for p in parts:
        if isinstance(p, Events):
            total += p.sign * (p.lo <= t < p.hi)
        else:
            total += p.sign * sum(s <= t < s + p.width for s in p.starts)
    return total


def probes(start: datetime, end: datetime, rng: random.Random) -> list[datetime]:
    """Moments around the window's edges, the hours and days near them, and at random."""
    out = []
    for edge in (start, end):
        for delta in (0, 1, -1, 3600, -3600, 86400, -86400):
            out.append(edge + timedelta(microseconds=delta))
        out += [edge + timedelta(seconds=rng.uniform(-2 * 86400, 2 * 86400)) for _ in range(40)]
    out += [start + (end - start) * rng.random() for _ in range(40)]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_pieces_count_the_window_exactly(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        start = T0 + timedelta(seconds=rng.choice([rng.uniform(0, 9 * 86400), rng.randrange(9 * 24) * 3600]))
        length = rng.choice([0, rng.uniform(0, 3600), rng.uniform(0, 30 * 3600), rng.uniform(0, 9 * 86400)])
        end = start + timedelta(seconds=length)
        parts = pieces(start, end)
        for t in probes(start, end, rng):
            assert weight(parts, t) == (start <= t < end), (start, end, t, parts)
        for p in parts:  # each bucket piece is one range of the buckets' index per group
            if isinstance(p, Buckets):
                assert all(b - a == p.width for a, b in zip(p.starts, p.starts[1:], strict=False)), p


def test_edges_read_at_most_half_an_hour_of_events_and_twelve_hours_each() -> None:
    rng = random.Random(3)
    for _ in range(500):
        start = T0 + timedelta(seconds=rng.uniform(0, 20 * 86400))
        end = start + timedelta(seconds=rng.uniform(3600, 7 * 86400))
        parts = pieces(start, end)
        hours = sum(len(p.starts) for p in parts if isinstance(p, Buckets) and p.period == "h")
        minutes = sum((p.hi - p.lo) / timedelta(minutes=1) for p in parts if isinstance(p, Events))
        assert hours <= 24 and minutes <= 60, (start, end, parts)


def test_empty_and_inverted_windows_have_no_pieces() -> None:
    assert pieces(T0, T0) == []
    assert pieces(T0 + HOUR, T0) == []
