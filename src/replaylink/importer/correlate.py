"""Decide, for every record and every token in it, whether it attaches to a session.

Pure functions over records already fetched; the database part (which sessions exist) is a
mapping handed in, so the pipeline can be measured and tested without I/O.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from replaylink.importer.extract import record_tokens
from replaylink.importer.fingerprint import fingerprint, strip_marker
from replaylink.providers.base import Record
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


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """What correlation needs to know of a session."""

    project_id: int
    started_at: datetime
    ends_at: datetime
    """When its token expires (the end of the session's lifetime)."""


@dataclass(slots=True)
class Candidate:
    """A record and one token in it that verified for this project (maybe expired)."""

    record: Record
    data: TokenData
    expired: bool


@dataclass
class Correlation:
    """What one batch of records produced."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    scanned: int = 0

    def reject(self, outcome: Outcome, record: Record, token: str | None) -> None:
        self.outcomes[outcome.value] += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(sample(outcome, record, token))


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
        self._cache: dict[str, tuple[Outcome | None, TokenData | None]] = {}

    def __call__(self, token: str) -> tuple[Outcome | None, TokenData | None]:
        """(rejection outcome or None, data). None + data = verified (maybe expired, see data)."""
        hit = self._cache.get(token)
        if hit is not None:
            return hit
        result = self.signer.verify(token, now=self.now)
        if result.reason is Reason.MALFORMED:
            answer: tuple[Outcome | None, TokenData | None] = (Outcome.MALFORMED, None)
        elif result.reason is Reason.BAD_SIGNATURE:
            answer = (Outcome.FORGED, None)
        elif result.data is not None and result.data.project_id != self.project_id:
            answer = (Outcome.OTHER_PROJECT, result.data)
        else:
            answer = (None, result.data)
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
            if len(result.samples) < MAX_SAMPLES:
                result.samples.append(sample(Outcome.NO_TOKEN, record, None))
            continue
        for token in tokens:
            outcome, data = verifier(token)
            if outcome is not None or data is None:
                result.reject(outcome or Outcome.MALFORMED, record, token)
            else:
                candidates.append(Candidate(record, data, expired=data.expires_at <= now))
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
            result.outcomes[Outcome.EXPIRED_IN_GRACE.value] += 1
        else:
            result.outcomes[Outcome.MATCHED.value] += 1
        result.rows.append(
            event_row(record, candidate.data.session_id, project_id, integration_id, provider, imported_at)
        )


def event_row(
    record: Record,
    session_id: int,
    project_id: int,
    integration_id: int,
    provider: str,
    imported_at: datetime,
) -> dict[str, Any]:
    title = strip_marker(record.title or record.message.split("\n", 1)[0])[:512]
    return {
        "project_id": project_id,
        "session_id": session_id,
        "integration_id": integration_id,
        "provider": provider,
        "provider_record_id": record.provider_id[:512],
        "timestamp": record.timestamp.astimezone(UTC),
        "level": (record.level or "error")[:16],
        "title": title,
        "message": record.message,
        "exception_type": (record.exception_type or None) and record.exception_type[:256],
        "service": record.service[:512] if record.service else None,
        "host": record.host[:512] if record.host else None,
        "logger": record.logger[:256] if record.logger else None,
        "stack": [asdict(frame) for frame in record.stack] if record.stack else None,
        "link": record.link,
        "attributes": record.attributes or None,
        "fingerprint": fingerprint(provider, record.exception_type, title),
        "imported_at": imported_at,
    }
