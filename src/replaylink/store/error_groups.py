"""Backend errors grouped by fingerprint: counts, sessions affected, first/last seen, a sample.

Groups are ordered by event count (most frequent first), then fingerprint; the cursor is the
last group's ``(count, fingerprint)``. Without a text filter the groups come from the rollup
(``store.error_group_rollup``; with a provider, the groups whose fingerprint hashes it, which
``store.group_words`` tells); with one, from the matching events; with a text whose
matches are not few, from a sample of the events (``store.group_estimates``: flagged estimates,
the sample's frame in the cursor), or of the events the text index gives for its rarest words
when that sample holds too few matches (``store.posting_frames``: exact when it reads them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from replaylink.store import (
    error_group_rollup,
    group_estimates,
    group_words,
    keyset,
    posting_frames,
    value_lists,
)
from replaylink.store.models import BackendEvent, ErrorGroupTotal
from replaylink.store.posting_frames import PostingFrame
from replaylink.store.sessions_query import Page
from replaylink.store.text_search import TextSearch, search_text

GROUPS_CURSOR = "g"
MAX_WHOLE_GROUPS = 20_000
"""With a text filter, the most frequent groups checked for words all their events have."""


@dataclass(frozen=True)
class GroupFilters:
    """Times bound the events' ``timestamp``: ``[start, end)``."""

    start: datetime | None = None
    end: datetime | None = None
    provider: str | None = None
    text: str | None = None


@dataclass
class ErrorGroup:
    fingerprint: str
    count: int
    sessions: int
    first_seen: datetime
    last_seen: datetime
    sample: BackendEvent | None = None
    estimated: bool = False
    """Count, sessions, first and last seen are estimated from a sample (``store.group_estimates``)."""


def _conditions(
    project_id: int, filters: GroupFilters, text: ColumnElement[bool] | None
) -> list[ColumnElement[bool]]:
    e = BackendEvent
    conditions: list[ColumnElement[bool]] = [e.project_id == project_id]
    if filters.start is not None:
        conditions.append(e.timestamp >= filters.start)
    if filters.end is not None:
        conditions.append(e.timestamp < filters.end)
    if filters.provider:
        conditions.append(e.provider == filters.provider)
    if text is not None:
        conditions.append(text)
    return conditions


def list_groups(
    db: Session, project_id: int, filters: GroupFilters, *, limit: int, cursor: str | None = None
) -> Page[ErrorGroup]:
    """One page of error groups, most frequent first. Raises ``keyset.InvalidCursor``.

    With a text whose matches are not few, the groups but those whose every event matches
    (``store.group_words``) are estimated from a sample whose frame (of ids, or of the rarest
    words' events) the first page picks and its cursor carries; a cursor of exact counts keeps
    counting exactly.
    """
    position, frame = _position(cursor) if cursor else (None, None)
    if not filters.text and frame is None:
        rolled = _rollup_groups(db, project_id, filters, limit, position)
        if rolled is not None:
            return _page(db, project_id, filters, rolled, limit, None)
    search = search_text(db, filters.text, probe=False) if filters.text else None
    if isinstance(frame, PostingFrame):
        if search is None:
            raise keyset.InvalidCursor("not a cursor of this listing")
        posting_frames.check(frame, search, db)
    many = search is not None and bool(search.words) and not search.few
    if many and cursor is None and search is not None:
        frame = _new_frame(db, search)
    elif many and frame is None and filters.text:
        # A cursor of exact counts (the first page's matches were few, or the table too small
        # to sample): the lookup that found them few, not a count of every match. Matches no
        # longer few in a table past the sample's size (stored since, a plan that changed, or a
        # cursor made up): the listing cannot go on exactly.
        exact = search_text(db, filters.text, bounded=False)
        if exact.few:
            search, many = exact, False
        elif group_estimates.new_frame(db) is not None:
            raise keyset.InvalidCursor("the search matches too many events to go on counting exactly")
    whole: list[ErrorGroup] = []
    rest: ColumnElement[bool] | None = true()
    if search is not None and many and filters == GroupFilters(text=filters.text):
        whole, rest = _whole_groups(db, project_id, search.words, limit, position)
    counted: list[ErrorGroup] = []
    if rest is not None and search is not None and frame is not None:
        counted, sampled = _estimated_groups(db, project_id, filters, search, frame, rest, limit, position)
        thin = sampled < group_estimates.MIN_SAMPLED
        if cursor is None and isinstance(frame, group_estimates.Frame) and thin:
            # Too few sampled matches to estimate from (or to list a group at all): sample the
            # events the index finds for the rarest words instead, if reading them is affordable.
            postings = posting_frames.new_frame(db, search, frame.low, frame.high)
            if postings is not None:
                frame = postings
                counted, _ = _estimated_groups(db, project_id, filters, search, frame, rest, limit, position)
    elif rest is not None:  # None: no group but the whole ones can rank
        counted = _counted_groups(db, project_id, filters, search, rest, limit, position)
    groups = sorted([*whole, *counted], key=_rank)[: limit + 1]
    if search is not None and search.few and frame is None:
        return _page(db, project_id, filters, groups, limit, search.condition(), from_matches=True)
    # Each group's newest matching event: walk the group's index, check the text on the way.
    text = search.condition(index_first=False) if search else None
    return _page(db, project_id, filters, groups, limit, text, frame=frame)


def _rank(group: ErrorGroup) -> tuple[int, str]:
    """The groups' order: most events first, then fingerprint (the cursor's)."""
    return -group.count, group.fingerprint


def _new_frame(db: Session, search: TextSearch) -> group_estimates.Frame | PostingFrame | None:
    """The sample of a first page of estimated groups: the id frame, or straight away a posting
    frame when the word sample tells that the id frame would hold too few matches (and reading
    the postings is affordable). None: the table holds no more ids than the id frame (every
    match is counted)."""
    frame = group_estimates.new_frame(db)
    if frame is None or not group_estimates.too_few_expected(db, search, frame):
        return frame
    return posting_frames.new_frame(db, search, frame.low, frame.high) or frame


def _rollup_groups(
    db: Session, project_id: int, filters: GroupFilters, limit: int, position: tuple[int, str] | None
) -> list[ErrorGroup] | None:
    """Up to ``limit + 1`` groups without a text filter, from the rollup
    (``store.error_group_rollup``). With a provider: the groups whose fingerprint hashes it
    (``group_words.known_providers``: every event of theirs has it) from the rollup too, and the
    groups of fingerprints given by other means counted from their events; None when the project
    has too many groups to tell (every event of the provider is counted instead)."""
    among: list[str] | None = None
    others: list[str] = []
    if filters.provider:
        t = ErrorGroupTotal
        listed = select(t.fingerprint).where(t.project_id == project_id).limit(MAX_WHOLE_GROUPS)
        fingerprints = list(db.connection().scalars(listed))
        if len(fingerprints) >= MAX_WHOLE_GROUPS:
            return None
        providers = group_words.known_providers(db, project_id, fingerprints)
        among = [fp for fp in fingerprints if providers.get(fp) == filters.provider]
        others = [fp for fp in fingerprints if fp not in providers]
    if filters.start is None and filters.end is None:
        found = error_group_rollup.all_time(db, project_id, limit=limit + 1, cursor=position, among=among)
    else:
        found = error_group_rollup.window(
            db, project_id, filters.start, filters.end, limit=limit + 1, cursor=position, among=among
        )
    groups = [ErrorGroup(g.fingerprint, g.count, g.sessions, g.first_seen, g.last_seen) for g in found]
    if others:
        dialect = db.get_bind().dialect.name
        unproven = value_lists.one_of(dialect, BackendEvent.fingerprint, others, value_lists.STRINGS)
        counted = _counted_groups(db, project_id, filters, None, unproven, limit, position)
        groups = sorted([*groups, *counted], key=_rank)[: limit + 1]
    return groups


def _estimated_groups(
    db: Session,
    project_id: int,
    filters: GroupFilters,
    search: TextSearch,
    frame: group_estimates.Frame | PostingFrame,
    among: ColumnElement[bool],
    limit: int,
    position: tuple[int, str] | None,
) -> tuple[list[ErrorGroup], int]:
    """Up to ``limit + 1`` groups (of those ``among``) estimated from the frame's events, and how
    many sampled events match."""
    e = BackendEvent
    conditions = [*_conditions(project_id, filters, None), among]
    found, sampled = group_estimates.estimated_groups(
        db,
        project_id,
        frame,
        conditions,
        search,
        limit=limit + 1,
        position=position,
    )
    samples = {row.id: row for row in db.scalars(select(e).where(e.id.in_([g.newest for g in found])))}
    groups = [
        ErrorGroup(
            g.fingerprint, g.count, g.sessions, g.first_seen, g.last_seen, samples.get(g.newest), not g.exact
        )
        for g in found
    ]
    return groups, sampled


def _counted_groups(
    db: Session,
    project_id: int,
    filters: GroupFilters,
    search: TextSearch | None,
    among: ColumnElement[bool],
    limit: int,
    position: tuple[int, str] | None,
) -> list[ErrorGroup]:
    """Up to ``limit + 1`` groups (of those ``among``) counted from their matching events."""
    e = BackendEvent
    with search.all_matches(db) if search else nullcontext(None) as text:
        count = func.count().label("n")
        query = (
            select(
                e.fingerprint,
                count,
                func.count(func.distinct(e.session_id)),
                func.min(e.timestamp),
                func.max(e.timestamp),
            )
            .where(*_conditions(project_id, filters, text), among)
            .group_by(e.fingerprint)
        )
        if position:
            query = query.having(error_group_rollup.ranks_after(func.count(), e.fingerprint, position))
        rows = db.execute(query.order_by(count.desc(), e.fingerprint).limit(limit + 1)).all()
    return [ErrorGroup(*row) for row in rows]


def _whole_groups(
    db: Session, project_id: int, words: list[str], limit: int, position: tuple[int, str] | None
) -> tuple[list[ErrorGroup], ColumnElement[bool] | None]:
    """All time, text only: the groups every event of which has the words (``store.group_words``),
    with the rollup's counts, most frequent first (at most ``limit + 1`` after ``position``), and
    the condition on the fingerprint of the events still to count (None: no other group can rank).
    """
    t = ErrorGroupTotal
    ranked = select(t.fingerprint, t.events).where(t.project_id == project_id)
    # Core rows: thousands of them, without the ORM's per-row work.
    totals = (
        db.connection().execute(ranked.order_by(t.events.desc(), t.fingerprint).limit(MAX_WHOLE_GROUPS)).all()
    )
    examined_all = len(totals) < MAX_WHOLE_GROUPS
    any_group = bool(totals)
    totals = [g for g in totals if error_group_rollup.follows(g.events, g.fingerprint, position)]
    known = group_words.known_words(db, project_id, (g.fingerprint for g in totals))
    chosen = [
        g.fingerprint
        for g in totals
        if g.fingerprint in known and group_words.matches_all(known[g.fingerprint], words)
    ][: limit + 1]
    if not chosen:
        # Any group may have fewer matches than the position's count, whatever its total.
        return [], true() if any_group or not examined_all else None
    rows = db.execute(
        select(t.fingerprint, t.events, t.sessions, t.first_seen, t.last_seen).where(
            t.project_id == project_id, t.fingerprint.in_(chosen)
        )
    )
    whole = sorted((ErrorGroup(*row) for row in rows), key=_rank)
    e = BackendEvent
    if len(whole) <= limit or not examined_all:
        return whole, e.fingerprint.not_in(chosen)
    # The page is full of whole groups: only a group with as many events could rank too.
    floor = whole[-1].count
    counted = set(chosen)
    others = [g.fingerprint for g in totals if g.events >= floor and g.fingerprint not in counted]
    return whole, e.fingerprint.in_(others) if others else None


def _position(cursor: str) -> tuple[tuple[int, str], group_estimates.Frame | PostingFrame | None]:
    """The last group's place, and the sample's frame when its page was estimated."""
    try:
        count, fingerprint = keyset.decode(GROUPS_CURSOR, cursor, int, str)
    except keyset.InvalidCursor:
        try:
            return group_estimates.decode(cursor)
        except keyset.InvalidCursor:
            return posting_frames.decode(cursor)
    assert isinstance(count, int) and isinstance(fingerprint, str)
    return (count, fingerprint), None


def _page(
    db: Session,
    project_id: int,
    filters: GroupFilters,
    groups: list[ErrorGroup],
    limit: int,
    text: ColumnElement[bool] | None,
    *,
    from_matches: bool = False,
    frame: group_estimates.Frame | PostingFrame | None = None,
) -> Page[ErrorGroup]:
    """The first ``limit`` of ``groups`` (one more tells there is a next page) with their samples
    (estimated groups have theirs)."""
    more = len(groups) > limit
    groups = groups[:limit]
    exact = [group for group in groups if not group.estimated and group.sample is None]
    attach_samples(db, project_id, exact, _conditions(project_id, filters, text), from_matches=from_matches)
    if not more:
        return Page(groups, None)
    last = groups[-1]
    if isinstance(frame, PostingFrame):
        return Page(groups, posting_frames.encode(last.count, last.fingerprint, frame))
    if frame is not None:
        return Page(groups, group_estimates.encode(last.count, last.fingerprint, frame))
    return Page(groups, keyset.encode(GROUPS_CURSOR, last.count, last.fingerprint))


def attach_samples(
    db: Session,
    project_id: int,
    groups: Sequence[ErrorGroup],
    conditions: list[ColumnElement[bool]],
    *,
    from_matches: bool = False,
) -> None:
    """The latest matching event of each group.

    ``from_matches``: the conditions name few events (a rare text's ids): they are read once and
    ranked per group. Otherwise one index probe per group, all in one statement driven by the
    groups' totals (one ``IN`` parameter list, whatever the page's size), so that a text filter's
    lookup (an ``IN`` list on SQLite) is evaluated once.
    """
    if not groups:
        return
    e, t = BackendEvent, ErrorGroupTotal
    if from_matches:
        newest = (
            func.row_number()
            .over(partition_by=e.fingerprint, order_by=(e.timestamp.desc(), e.id.desc()))
            .label("rank")
        )
        ranked = (
            select(e.fingerprint, e.id, newest)
            .where(*conditions, e.fingerprint.in_([g.fingerprint for g in groups]))
            .subquery()
        )
        sample_ids = select(ranked.c.id).where(ranked.c.rank == 1)
    else:
        latest = (
            select(e.id)
            .where(*conditions, e.fingerprint == t.fingerprint)
            .order_by(e.timestamp.desc(), e.id.desc())
            .limit(1)
            .correlate(t)  # to the totals row only, not to the events read around it
            .scalar_subquery()
        )
        listed = value_lists.one_of(
            db.get_bind().dialect.name, t.fingerprint, [g.fingerprint for g in groups], value_lists.STRINGS
        )
        sample_ids = select(latest).where(t.project_id == project_id, listed)
    # The events in the same statement (a group's sample has its fingerprint).
    samples = {row.fingerprint: row for row in db.scalars(select(e).where(e.id.in_(sample_ids)))}
    for group in groups:
        group.sample = samples.get(group.fingerprint)


def group_exists(db: Session, project_id: int, fingerprint: str) -> bool:
    e = BackendEvent
    query = select(e.id).where(e.project_id == project_id, e.fingerprint == fingerprint).limit(1)
    return db.scalar(query) is not None
