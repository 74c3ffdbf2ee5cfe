"""Decide, for every record and every token in it, whether it attaches to a session.

Pure functions over records already fetched; the database part (which sessions exist) is a
mapping handed in, so the pipeline can be measured and tested without I/O.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from replaylink.importer.extract import record_tokens
from replaylink.providers.base import Record
from replaylink.records import event_fields
from replaylink.store.counted_records import SCANNED
from replaylink.store.events import EventRow, SessionWindow
from replaylink.tokens import Reason, TokenData, TokenSigner

MAX_SAMPLES = 20
SAMPLE_EXCERPT = 300


class Outcome(enum.StrEnum):
    MATCHED = "matched"
    EXPIRED_IN_GRACE = "expired_in_grace"
    EXPIRED_OUT_OF_GRACE = "expired_out_of_grace"
    FORGED = "forged"
    MALFORMED = "malformed"
    OTHER_PROJECT = "other_project"
    UNKNOWN_SESSION = "unknown_session"
    NO_TOKEN = "no_token"


ATTACHING = {Outcome.MATCHED, Outcome.EXPIRED_IN_GRACE}
VALUES = {outcome: outcome.value for outcome in Outcome}
"""Each outcome's string, looked up per record (an enum's ``.value`` is a Python-level property)."""


def record_key(record: Record) -> str:
    """A record's identity: the ``provider_record_id`` its backend events are unique by."""
    return record.provider_id[:512]


Verdict = TokenData | Outcome
"""A token's verification: its data when it verified for this project (maybe expired, see
``TokenData.expires_at``), else why it is rejected."""


@dataclass(slots=True)
class Candidate:
    """A record and one token in it that verified for this project (maybe expired)."""

    record: Record
    data: TokenData
    expired: bool


@dataclass
class Correlation:
    """What one batch of records produced."""

    rows: list[EventRow] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    scanned: int = 0
    seen: list[tuple[Record, Outcome, str | None]] = field(default_factory=list)
    """Every outcome counted, with its record (and the rejected token), for :meth:`only`."""

    def reject(self, outcome: Outcome, record: Record, token: str | None) -> None:
        self.outcomes[VALUES[outcome]] += 1
        self.seen.append((record, outcome, token))
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(sample(outcome, record, token))

    def sightings(self) -> Iterator[tuple[str, str, datetime]]:
        """``(record key, outcome, record time)`` of every outcome (every record has one)."""
        for record, outcome, _ in self.seen:
            yield record_key(record), VALUES[outcome], record.timestamp

    def only(self, first: Collection[tuple[str, str]]) -> Correlation:
        """The counts and samples of the ``(record key, outcome)`` pairs in ``first`` (those never
        counted before), each once; the event rows are kept as they are."""
        narrowed = Correlation(rows=self.rows)
        done: set[tuple[str, str]] = set()
        for record, outcome, token in self.seen:
            key = record_key(record)
            if (key, SCANNED) in first and (key, SCANNED) not in done:
                done.add((key, SCANNED))
                narrowed.scanned += 1
            pair = (key, VALUES[outcome])
            if pair in first and pair not in done:
                done.add(pair)
                if outcome in ATTACHING:
                    narrowed.outcomes[VALUES[outcome]] += 1
                    narrowed.seen.append((record, outcome, token))
                else:
                    narrowed.reject(outcome, record, token)
        return narrowed


def sample(outcome: Outcome, record: Record, token: str | None) -> dict[str, Any]:
    """A bounded diagnostic sample of a rejected record."""
    return {
        "reason": outcome.value,
        "provider_record_id": record.provider_id[:200],
        "timestamp": record.timestamp.isoformat(),
        "token": (token[:24] + "...") if token and len(token) > 24 else token,
        "excerpt": record.message[:SAMPLE_EXCERPT],
    }


class Verifier:
    """Token verification with a per-batch cache (the same token recurs across records)."""

    def __init__(self, signer: TokenSigner, project_id: int, now: datetime) -> None:
        self.signer = signer
        self.project_id = project_id
        self.now = now.timestamp()
        self._cache: dict[str, Verdict] = {}

    def __call__(self, token: str) -> Verdict:
        """The token's data when it verified for this project (maybe expired), else the rejection."""
        hit = self._cache.get(token)
        if hit is not None:
            return hit
        result = self.signer.verify(token, now=self.now)
        answer: Verdict
        if result.reason is Reason.BAD_SIGNATURE:
            answer = Outcome.FORGED
        elif result.reason is Reason.MALFORMED or result.data is None:
            answer = Outcome.MALFORMED
        elif result.data.project_id != self.project_id:
            answer = Outcome.OTHER_PROJECT
        else:
            answer = result.data
        if len(self._cache) < 100_000:
            self._cache[token] = answer
        return answer


def verify_records(records: Iterable[Record], verifier: Verifier, result: Correlation) -> list[Candidate]:
    """Phase 1 (no I/O): extract and verify every token; count rejections."""
    candidates: list[Candidate] = []
    now = verifier.now
    scanned = no_token = 0
    for record in records:
        scanned += 1
        tokens = record_tokens(record)
        if not tokens:
            no_token += 1  # counted once below: the common case stays cheap
            result.seen.append((record, Outcome.NO_TOKEN, None))
            if len(result.samples) < MAX_SAMPLES:
                result.samples.append(sample(Outcome.NO_TOKEN, record, None))
            continue
        for token in tokens:
            verdict = verifier(token)
            if isinstance(verdict, Outcome):
                result.reject(verdict, record, token)
            else:
                candidates.append(Candidate(record, verdict, expired=verdict.expires_at <= now))
    result.scanned += scanned
    if no_token:
        result.outcomes[Outcome.NO_TOKEN.value] += no_token
    return candidates


def attach(
    candidates: Iterable[Candidate],
    sessions: Mapping[int, SessionWindow],
    *,
    project_id: int,
    integration_id: int,
    provider: str,
    grace: timedelta,
    result: Correlation,
    imported_at: datetime | None = None,
) -> None:
    """Phase 2: candidates whose session exists become event rows; the rest are counted."""
    imported_at = imported_at or datetime.now(UTC)
    matched = in_grace = 0  # counted once below
    for candidate in candidates:
        record = candidate.record
        session = sessions.get(candidate.data.session_id)
        if session is None or session.project_id != project_id:
            result.reject(Outcome.UNKNOWN_SESSION, record, None)
            continue
        if candidate.expired:
            inside = session.started_at - grace <= record.timestamp <= session.ends_at + grace
            if not inside:
                result.reject(Outcome.EXPIRED_OUT_OF_GRACE, record, None)
                continue
            in_grace += 1
            result.seen.append((record, Outcome.EXPIRED_IN_GRACE, None))
        else:
            matched += 1
            result.seen.append((record, Outcome.MATCHED, None))
        result.rows.append(
            event_row(record, candidate.data.session_id, project_id, integration_id, provider, imported_at)
        )
    for outcome, count in ((Outcome.MATCHED, matched), (Outcome.EXPIRED_IN_GRACE, in_grace)):
        if count:
            result.outcomes[VALUES[outcome]] += count


def event_row(
    record: Record,
    session_id: int,
    project_id: int,
    integration_id: int,
    provider: str,
    imported_at: datetime,
) -> EventRow:
    """The event row that attaches ``record`` to a session."""
    row = cast(EventRow, event_fields(record, provider))  # completed below, not copied
    row["project_id"] = project_id
    row["session_id"] = session_id
    row["integration_id"] = integration_id
    row["provider"] = provider
    row["imported_at"] = imported_at
    return row
