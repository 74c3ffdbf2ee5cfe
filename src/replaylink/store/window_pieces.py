"""A time window ``[start, end)`` as a signed sum of UTC day buckets, hour buckets and event ranges.

The rollup counts events per UTC hour and day; events outside whole buckets are counted from the
events themselves. A window's count is the same sum whichever way its edges are rounded: an edge
at 10:50 is the hour bucket 10:00 minus the events of 10:50-11:00 as well as the events of
10:00-10:50 ... (``count[s, e) = count[s, hs) + count[hs, he) + count[he, e)`` for any ``hs``,
``he``, with ``count[b, a) = -count[a, b)``). Each edge is rounded to the hour and the day that
make the fewest rows to read: at most 12 hour rows and 30 minutes of events per edge instead of
23 and 60.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WIDTHS = {"h": HOUR, "d": DAY}
"""The buckets' periods and how long each is."""
ROW_MINUTES = 5.0
"""Cost of reading one bucket row per group, in minutes of events read instead (an index
descent against a few dozen index entries of a frequent group)."""
EVENTS_PIECE_MINUTES = 1.0
"""Fixed cost of one range of events per group (its descent), in minutes of events."""


@dataclass(frozen=True)
class Buckets:
    """Bucket rows of ``period`` ('d' or 'h') starting at ``starts``, counted ``sign`` times.
    The starts are consecutive (one range of the buckets' index per group)."""

    period: str
    starts: tuple[datetime, ...]
    sign: int

    @property
    def width(self) -> timedelta:
        return WIDTHS[self.period]


@dataclass(frozen=True)
class Events:
    """Events timed in ``[lo, hi)``, counted ``sign`` times."""

    lo: datetime
    hi: datetime
    sign: int


Piece = Buckets | Events


def floor(t: datetime, width: timedelta) -> datetime:
    """``t`` rounded down to a UTC hour or day."""
    t = t.astimezone(UTC)
    if width == DAY:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def ceil(t: datetime, width: timedelta) -> datetime:
    """``t`` rounded up to a UTC hour or day."""
    down = floor(t, width)
    return down if down == t else down + width


@dataclass(frozen=True)
class _Plan:
    """A decomposition: edges rounded to ``hs``/``he`` (hours), the hours between them either
    direct (``ds``/``de`` None) or through whole days ``[ds, de)``."""

    hs: datetime
    he: datetime
    ds: datetime | None
    de: datetime | None


def _minutes(a: datetime, b: datetime) -> float:
    return abs((b - a).total_seconds()) / 60


def _units(a: datetime, b: datetime, width: timedelta) -> int:
    return abs(b - a) // width


def _events_cost(a: datetime, b: datetime) -> float:
    return 0.0 if a == b else _minutes(a, b) + EVENTS_PIECE_MINUTES


def _cost(start: datetime, end: datetime, plan: _Plan) -> float:
    cost = _events_cost(start, plan.hs) + _events_cost(plan.he, end)
    if plan.ds is None or plan.de is None:
        return cost + ROW_MINUTES * _units(plan.hs, plan.he, HOUR)
    rows = _units(plan.ds, plan.de, DAY) + _units(plan.hs, plan.ds, HOUR) + _units(plan.de, plan.he, HOUR)
    return cost + ROW_MINUTES * rows


def whole_days(lo: datetime, hi: datetime) -> Buckets:
    """The day buckets of ``[lo, hi)`` (both at midnight UTC)."""
    return Buckets("d", tuple(lo + i * DAY for i in range((hi - lo) // DAY)), 1)


def _plans(start: datetime, end: datetime) -> Iterator[_Plan]:
    for hs in sorted({floor(start, HOUR), ceil(start, HOUR)}):
        for he in sorted({floor(end, HOUR), ceil(end, HOUR)}):
            yield _Plan(hs, he, None, None)
            for ds in sorted({floor(hs, DAY), ceil(hs, DAY)}):
                for de in sorted({floor(he, DAY), ceil(he, DAY)}):
                    yield _Plan(hs, he, ds, de)


def _add(coefficients: dict[tuple[str, datetime], int], period: str, a: datetime, b: datetime) -> None:
    """Adds the signed bucket interval ``a -> b`` (``count[a, b)``, negative when ``b < a``)."""
    width = WIDTHS[period]
    sign, lo, hi = (1, a, b) if a <= b else (-1, b, a)
    for i in range((hi - lo) // width):
        coefficients[(period, lo + i * width)] += sign


def _events(a: datetime, b: datetime) -> list[Events]:
    """The signed events interval ``a -> b``."""
    if a == b:
        return []
    return [Events(a, b, 1)] if a < b else [Events(b, a, -1)]


def pieces(start: datetime, end: datetime) -> list[Piece]:
    """``[start, end)`` as the cheapest signed sum of bucket rows and event ranges (none when empty)."""
    if end <= start:
        return []
    plan = min(_plans(start, end), key=lambda p: _cost(start, end, p))
    if _cost(start, end, plan) >= _events_cost(start, end):
        return [Events(start, end, 1)]
    coefficients: dict[tuple[str, datetime], int] = defaultdict(int)
    if plan.ds is None or plan.de is None:
        _add(coefficients, "h", plan.hs, plan.he)
    else:
        _add(coefficients, "h", plan.hs, plan.ds)
        _add(coefficients, "d", plan.ds, plan.de)
        _add(coefficients, "h", plan.de, plan.he)
    return _runs(coefficients) + _events(start, plan.hs) + _events(plan.he, end)


def _runs(coefficients: dict[tuple[str, datetime], int]) -> list[Piece]:
    """The signed bucket rows as pieces of consecutive starts of one period and sign."""
    runs: list[Buckets] = []
    for (period, at), sign in sorted(coefficients.items()):
        if not sign:
            continue
        last = runs[-1] if runs else None
        if last and (last.period, last.sign) == (period, sign) and last.starts[-1] + last.width == at:
            runs[-1] = Buckets(period, (*last.starts, at), sign)
        else:
            runs.append(Buckets(period, (at,), sign))
    return list(runs)
