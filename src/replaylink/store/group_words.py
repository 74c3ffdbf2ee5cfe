"""The words every event of an error group has in its title, known from the group's fingerprint.

A fingerprint (``replaylink.fingerprint``) hashes the provider, the exception type and the title
normalised: first line, volatile values (numbers, ids, quoted values...) replaced by ``<>``,
lower-cased. So the events of a group whose fingerprint is that hash of one of its events' title
(checked on one event) share that normalised title, and each of its words that no replaced value
touches on its left starts a word of every event's title (a replaced value on its right leaves it
a prefix of one: ``error<>`` of ``Error36``). A text search (``q``) whose every word starts one of
them matches every event of the group: its counts are the rollup's (``error_group_totals``), and
no event needs reading. The hash covers the provider too: every event of such a group has the
provider of the event checked (:func:`known_providers`), so a provider filter takes the group's
counts from the rollup as well.

Words are split as ``text_search.has_words`` splits an event's text (runs of letters and digits,
lower-cased). A fingerprint given by other means (tests, imports of other tools) is not the hash
of its titles: its group has no known words and is counted from its events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from replaylink.fingerprint import fingerprint, normalise
from replaylink.store.models import BackendEvent, ErrorGroupTotal

_WORD = re.compile(r"[^\W_]+")  # as text_search splits words
_CHUNK = 500
_CACHE_LIMIT = 200_000
_known: dict[str, frozenset[str]] = {}
"""Fingerprint -> its title's constant words: the same in every database (a hash of them)."""
_providers: dict[str, str] = {}
"""Fingerprint -> the provider it hashes (every event of the group has it), for those of ``_known``."""
_unknown: set[str] = set()
"""Fingerprints seen not to be their titles' hash (in some database): not read again until the
caches are cleared; their groups are counted from their events (always exact)."""


def title_words(provider: str, exception_type: str | None, title: str, group: str) -> frozenset[str] | None:
    """The words every event of ``group`` has in its title (lower-cased; each starts a word of
    it), if ``group`` is the fingerprint of this event's title; else None."""
    if fingerprint(provider, exception_type, title) != group:
        return None
    normalised = normalise(title)
    return frozenset(
        match.group()
        for match in _WORD.finditer(normalised)
        if match.start() == 0 or normalised[match.start() - 1] != ">"
    )


def matches_all(words: frozenset[str], query: Sequence[str]) -> bool:
    """Whether each word of ``query`` starts one of ``words`` (any case)."""
    return all(any(word.startswith(start) for word in words) for start in (q.lower() for q in query))


def known_words(db: Session, project_id: int, groups: Iterable[str]) -> dict[str, frozenset[str]]:
    """The constant title words of those of ``groups`` whose fingerprint is their titles' hash.

    Each fingerprint is looked up once per process (one event read through the group index)."""
    groups = _learned(db, project_id, groups)
    return {group: _known[group] for group in groups if _known.get(group)}


def known_providers(db: Session, project_id: int, groups: Iterable[str]) -> dict[str, str]:
    """The provider of each of ``groups`` whose fingerprint is its titles' hash: the hash covers
    the provider, so every event of such a group has it. Looked up as :func:`known_words`."""
    groups = _learned(db, project_id, groups)
    return {group: _providers[group] for group in groups if group in _providers}


def _learned(db: Session, project_id: int, groups: Iterable[str]) -> list[str]:
    """``groups``, each of them looked up (once per process: :func:`_learn`)."""
    groups = list(groups)
    missing = [group for group in groups if group not in _known]
    if missing:
        _learn(db, project_id, missing)
    return groups


def _learn(db: Session, project_id: int, missing: list[str]) -> None:
    missing = [group for group in missing if group not in _unknown]
    if len(_known) + len(missing) > _CACHE_LIMIT:
        _known.clear()
        _providers.clear()
        _unknown.clear()
    e = BackendEvent
    t = ErrorGroupTotal
    for at in range(0, len(missing), _CHUNK):
        chunk = missing[at : at + _CHUNK]
        one = (
            select(e.id)
            .where(e.project_id == project_id, e.fingerprint == t.fingerprint)
            .limit(1)
            .scalar_subquery()
        )
        ids = select(one).where(t.project_id == project_id, t.fingerprint.in_(chunk))
        rows = db.execute(select(e.provider, e.exception_type, e.title, e.fingerprint).where(e.id.in_(ids)))
        for provider, exception_type, title, group in rows:
            words = title_words(provider, exception_type, title, group)
            if words is None:
                _unknown.add(group)
            else:
                _known[group] = words
                _providers[group] = provider
