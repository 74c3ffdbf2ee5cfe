"""Batch ingest: check the token, the body and the session's limits, store the blob, then index it.

The blob is written before its row commits, so a crash leaves at worst an unindexed blob (the
sweep removes it), never a row without its blob. Every refusal is a :class:`Refused` with the
HTTP status, an error code the tracker acts on, and a message for the developer.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from replaylink.config import Settings
from replaylink.replay import codec, index, metrics
from replaylink.replay.batch import Batch, Malformed, parse_batch
from replaylink.replay.ratelimit import RateLimiter
from replaylink.replay.store import ReplayStore, StoreError, segment_key
from replaylink.store.accounts import origin_allowed
from replaylink.store.db import transaction
from replaylink.tokens import Reason, TokenData, TokenSigner


class Refused(Exception):
    """A batch not stored: answer ``status`` with ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class _OverCap(Exception):
    """Rolls back the index transaction of a batch over the session's byte cap."""


@dataclass(frozen=True)
class Outcome:
    result: str
    """stored, duplicate or empty"""
    session_id: int
    key: str | None = None


@contextmanager
def _timed(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.STAGE.labels(stage).observe(time.perf_counter() - start)


class Ingestor:
    """Takes batches for every session of this process (one per process: it holds the rate limits)."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        signer: TokenSigner,
        store: ReplayStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.signer = signer
        self.store = store
        self.clock = clock
        self.limiter = RateLimiter(settings.replay_batches_per_minute / 60, settings.replay_batch_burst)

    def ingest(self, token: str | None, body: bytes, *, encoding: str | None, origin: str | None) -> Outcome:
        try:
            outcome = self._ingest(token, body, encoding=encoding, origin=origin)
        except Refused as refused:
            metrics.BATCHES.labels(refused.code).inc()
            raise
        metrics.BATCHES.labels(outcome.result).inc()
        return outcome

    # ------------------------------------------------------------------ steps

    def authenticate(self, token: str | None, now: float) -> TokenData:
        if not token:
            raise Refused(
                401,
                "invalid_token",
                "Send the session token as 'Authorization: Bearer <token>', the X-OpenReplay-SessionToken "
                "header or ?token=; start a session with POST /ingest/v1/sessions to get one.",
            )
        verification = self.signer.verify(token, now=now)
        data = verification.data
        if verification.reason is Reason.EXPIRED and data is not None:
            if now <= data.expires_at + self.settings.replay_token_grace_seconds:
                return data
            raise Refused(401, "session_expired", "The session has expired; start a new session.")
        if data is None or not verification.valid:
            raise Refused(
                401,
                "invalid_token",
                "The session token is malformed or was not issued here; start a new session.",
            )
        return data

    def decode(self, body: bytes, encoding: str | None) -> tuple[bytes, bytes]:
        """``(raw JSON, bytes to store)``: gzip kept as received, anything else gzipped once."""
        name = (encoding or "identity").strip().lower()
        if name not in ("identity", "gzip", "x-gzip"):
            raise Refused(
                400, "unsupported_encoding", "Send the batch as JSON, optionally Content-Encoding: gzip."
            )
        limit = self.settings.replay_max_batch_raw_bytes
        if name != "identity" or codec.is_gzip(body):  # sendBeacon cannot say it is gzip
            try:
                return codec.gunzip(body, limit), body
            except codec.TooLarge:
                raise Refused(
                    413,
                    "batch_too_large",
                    f"The batch decompresses to more than {limit} bytes; send smaller batches.",
                ) from None
            except codec.Corrupt as exc:
                raise Refused(400, "invalid_gzip", f"The body is not valid gzip: {exc}.") from None
        if len(body) > limit:
            raise Refused(
                413, "batch_too_large", f"The batch is larger than {limit} bytes; send smaller batches."
            )
        return body, codec.compress(body)

    def _check_window(self, batch: Batch, state: index.SessionState, now: float) -> None:
        assert batch.first_ms is not None and batch.last_ms is not None
        settings = self.settings
        started_ms = int(state.started_at.timestamp() * 1000)
        skew_ms = settings.replay_clock_skew_seconds * 1000
        if batch.last_ms > started_ms + settings.replay_max_session_seconds * 1000 + skew_ms:
            raise Refused(
                409,
                "session_too_long",
                f"The session is longer than {settings.replay_max_session_seconds} s; stop recording "
                "or start a new session.",
            )
        if batch.first_ms < started_ms - skew_ms or batch.last_ms > now * 1000 + skew_ms:
            raise Refused(
                400,
                "timestamp_out_of_range",
                "Event timestamps must lie between the session's start and now, give or take "
                f"{settings.replay_clock_skew_seconds} s; correct the client clock with serverTime.",
            )

    def _too_large(self) -> Refused:
        return Refused(
            409,
            "session_too_large",
            f"The session already holds {self.settings.replay_max_session_bytes} bytes of recording; "
            "stop recording or start a new session.",
        )

    # ------------------------------------------------------------------ the whole path

    def _ingest(self, token: str | None, body: bytes, *, encoding: str | None, origin: str | None) -> Outcome:
        now = self.clock()
        claims = self.authenticate(token, now)
        wait = self.limiter.take(claims.session_id)
        if wait > 0:
            raise Refused(
                429,
                "rate_limited",
                "This session sends batches faster than a page can; wait for Retry-After seconds.",
                retry_after=max(1, math.ceil(wait)),
            )
        with _timed("decode"):
            raw, stored = self.decode(body, encoding)
            try:
                batch = parse_batch(raw)
            except Malformed as exc:
                raise Refused(400, "malformed_batch", f"The batch is malformed: {exc}.") from None
        with _timed("read"), transaction(self.factory) as db:
            state = index.session_state(db, claims.session_id, batch.tab, batch.seq)
        if state is None or state.project_id != claims.project_id:
            raise Refused(401, "invalid_token", "The token names no session here; start a new session.")
        if not origin_allowed(state.allowed_origins, origin):
            raise Refused(403, "origin_not_allowed", "This origin may not record sessions for this project.")
        if state.segment_exists:
            return Outcome("duplicate", state.session_id)
        if batch.empty:
            return Outcome("empty", state.session_id)
        self._check_window(batch, state, now)
        if state.replay_bytes + len(stored) > self.settings.replay_max_session_bytes:
            raise self._too_large()
        if batch.unknown_devtools:
            metrics.DEVTOOLS_IGNORED.labels("unknown_type").inc(batch.unknown_devtools)
        if batch.skipped_devtools:
            metrics.DEVTOOLS_IGNORED.labels("over_batch_limit").inc(batch.skipped_devtools)
        key = segment_key(state.project_id, state.session_id, batch.tab, batch.seq)
        with _timed("blob"):
            try:
                self.store.put(key, stored)
            except StoreError as exc:
                raise Refused(
                    503, "store_unavailable", f"Recording storage failed ({exc}); retry.", 5
                ) from None
        with _timed("index"):
            try:
                with transaction(self.factory) as db:
                    added = index.add_segment(
                        db,
                        state,
                        batch,
                        key=key,
                        size=len(stored),
                        raw_size=len(raw),
                        digest=hashlib.sha256(stored).hexdigest(),
                        now=datetime.fromtimestamp(now, UTC),
                        max_session_bytes=self.settings.replay_max_session_bytes,
                    )
                    if added is index.Added.OVER_CAP:
                        raise _OverCap
            except _OverCap:
                raise self._too_large() from None
        if added is index.Added.DUPLICATE:
            return Outcome("duplicate", state.session_id, key)
        metrics.BYTES.inc(len(stored))
        return Outcome("stored", state.session_id, key)
