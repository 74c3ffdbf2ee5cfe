"""``value_lists.one_of``: one bound parameter for any number of values, the same answer as ``IN``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from replaylink.runtime import Runtime
from replaylink.store import value_lists
from replaylink.store.db import transaction
from replaylink.store.models import ErrorGroupTotal, Project
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded


def test_one_of_matches_like_in_for_strings_and_integers(rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id, T0)
    for n in range(5):
        add_event(rt, session, timedelta(seconds=n), fingerprint=f"fp{n}")
    with transaction(rt.sessions) as db:
        dialect = db.get_bind().dialect.name
        fingerprints = sorted(db.scalars(select(ErrorGroupTotal.fingerprint)))
        assert len(fingerprints) == 5
        for wanted in ([], fingerprints[:1], [*fingerprints[1:4], "no such group"], fingerprints * 300):
            condition = value_lists.one_of(dialect, ErrorGroupTotal.fingerprint, wanted, value_lists.STRINGS)
            found = db.scalars(select(ErrorGroupTotal.fingerprint).where(condition))
            assert sorted(found) == sorted(set(fingerprints) & set(wanted))
        ids = [-1, seeded.project_id, 10**12]
        projects = value_lists.one_of(dialect, Project.id, ids, value_lists.INTEGERS)
        assert list(db.scalars(select(Project.id).where(projects))) == [seeded.project_id]


TRICKY = ["NULL", "null", "a,b", 'say "hi"', "back\\slash", "{brace}", " padded ", "x-1.2:3_y"]
"""Values that PostgreSQL's array literal would misread unquoted (and one that needs no quotes)."""


def test_one_of_matches_values_an_array_literal_must_quote(rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id, T0)
    for n, fingerprint in enumerate(TRICKY):
        add_event(rt, session, timedelta(seconds=n), fingerprint=fingerprint)
    with transaction(rt.sessions) as db:
        dialect = db.get_bind().dialect.name
        for value in TRICKY:
            for wanted in ([value], [value, "plain"]):
                listed = value_lists.one_of(dialect, ErrorGroupTotal.fingerprint, wanted, value_lists.STRINGS)
                assert list(db.scalars(select(ErrorGroupTotal.fingerprint).where(listed))) == [value]
        empty = value_lists.one_of(dialect, ErrorGroupTotal.fingerprint, ["", "NULL"], value_lists.STRINGS)
        assert list(db.scalars(select(ErrorGroupTotal.fingerprint).where(empty))) == ["NULL"]
