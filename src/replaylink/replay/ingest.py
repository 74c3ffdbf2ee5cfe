"""Batch ingest: check the token, the body and the session's limits, store the blob, then index it.

The blob is written before its row commits, so a crash leaves at worst an unindexed blob (the
sweep removes it), never a row without its blob. Every refusal is a :class:`Refused` with the
HTTP status, an error code the tracker acts on, and a message for the developer.

On PostgreSQL a batch costs two autocommit statements (:mod:`~replaylink.replay.pg_index`) on a
pool of its own without pre-ping (a connection found dead is replaced and the statement, which is
idempotent, run once more); on SQLite it uses the ORM sessions of :mod:`~replaylink.replay.index`:
the read through a WAL reader (it never waits for a writer), the index write through a write session.

:meth:`Ingestor.prepare` does everything up to the stored blob and :meth:`Ingestor.add_segment` the one
database write, so a server can run the write in its turn at the database (on SQLite, behind the
same write gate as every other writer) without holding that turn while it decodes or stores the blob.
:meth:`Ingestor.ingest` runs both.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from replaylink.config import Settings
from replaylink.replay import codec, index, metrics, pg_index
from replaylink.replay.batch import Batch, Malformed, parse_batch
from replaylink.replay.ratelimit import RateLimiter
from replaylink.replay.store import ReplayStore, StoreError, segment_key
from replaylink.store import unavailable
from replaylink.store.accounts import origin_allowed
from replaylink.store.db import make_engine, transaction
from replaylink.tokens import Reason, TokenData, TokenSigner

log = logging.getLogger("replaylink.replay")

T = TypeVar("T")
POOL_SIZE = 4
"""Connections of a process's ingest pool (as many again while busy)."""
POOL_TIMEOUT_SECONDS = 10


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


@dataclass(frozen=True)
class Prepared:
    """A batch that passed every check and whose blob is stored: what is left is its index row."""

    state: index.SessionState
    batch: Batch
    blob: index.StoredBlob
    now: float


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
        *,
        read_factory: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.read_factory = read_factory or factory
        self.signer = signer
        self.store = store
        self.clock = clock
        self.limiter = RateLimiter(settings.replay_batches_per_minute / 60, settings.replay_batch_burst)
        bind = factory.kw.get("bind")
        self.postgres = isinstance(bind, Engine) and bind.dialect.name == "postgresql"

    @cached_property
    def engine(self) -> Engine:
        """PostgreSQL only: autocommit connections, no pre-ping round trip on checkout. Small: a
        statement holds its connection for about a millisecond, and every ``serve`` process
        has such a pool beside its main one (PostgreSQL allows 100 connections by default)."""
        bind = self.factory.kw["bind"]
        return make_engine(
            bind.url.render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
            pool_pre_ping=False,
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
            pool_timeout=POOL_TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    def _on_postgres(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run one idempotent statement on a pooled psycopg connection; once more on a fresh
        connection if the pooled one was dead (PostgreSQL restarted: there is no pre-ping)."""
        for attempt in (1, 2):
            pooled = self.engine.raw_connection()
            connection = pooled.driver_connection
            assert isinstance(connection, psycopg.Connection)
            try:
                return work(connection)
            except psycopg.OperationalError:
                if attempt == 2 or not connection.broken:
                    raise
                pooled.invalidate()
            finally:
                pooled.close()
        raise AssertionError("unreachable")

    def ingest(self, token: str | None, body: bytes, *, encoding: str | None, origin: str | None) -> Outcome:
        """Every step in this thread: :meth:`prepare`, then :meth:`add_segment` if anything is left."""
        step = self.prepare(token, body, encoding=encoding, origin=origin)
        return step if isinstance(step, Outcome) else self.add_segment(step)

    def prepare(
        self, token: str | None, body: bytes, *, encoding: str | None, origin: str | None
    ) -> Outcome | Prepared:
        """Check the token, rate, body and session limits and store the blob. An :class:`Outcome`
        when nothing is left to write (a duplicate or empty batch). Raises :class:`Refused`."""
        return self._counted(lambda: self._prepare(token, body, encoding=encoding, origin=origin))

    def add_segment(self, prepared: Prepared) -> Outcome:
        """Write the segment's row (the one database write of a batch). Raises :class:`Refused`."""
        return self._counted(lambda: self._finish(prepared))

    def _counted(self, step: Callable[[], T]) -> T:
        """Run a step; count its outcome or refusal, and turn a busy or lost database into 503."""
        try:
            try:
                result = step()
            except Exception as exc:
                # Unreachable, out of connections, or this pool busy: the tracker retries later.
                # (psycopg's message can name the server and user: it is not passed on.)
                if not unavailable.database_unavailable(exc):
                    raise
                raise Refused(
                    503, unavailable.CODE, unavailable.MESSAGE, unavailable.RETRY_AFTER_SECONDS
                ) from None
        except Refused as refused:
            metrics.BATCHES.labels(refused.code).inc()
            raise
        if isinstance(result, Outcome):
            metrics.BATCHES.labels(result.result).inc()
        return result

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
        # A time past now is a bad clock (this batch is refused), not a session past its length
        # (which ends the recording): checked first.
        if batch.first_ms < started_ms - skew_ms or batch.last_ms > now * 1000 + skew_ms:
            raise Refused(
                400,
                "timestamp_out_of_range",
                "Event timestamps must lie between the session's start and now, give or take "
                f"{settings.replay_clock_skew_seconds} s; correct the client clock with serverTime.",
            )
        if batch.last_ms > started_ms + settings.replay_max_session_seconds * 1000 + skew_ms:
            raise Refused(
                409,
                "session_too_long",
                f"The session is longer than {settings.replay_max_session_seconds} s; stop recording "
                "or start a new session.",
            )

    def _discard_unless_indexed(self, key: str) -> None:
        """After a lost race for a ``(tab, seq)``: delete this request's blob unless the winner's
        row names it (the same body, so the same key). Left behind on failure, the sweep takes it."""
        try:
            with transaction(self.factory) as db:
                if index.indexed_keys(db, [key]):
                    return
            self.store.delete([key])
        except (StoreError, SQLAlchemyError) as exc:
            log.warning("could not delete the blob of a duplicate batch (the sweep will): %s", exc)

    def _too_large(self) -> Refused:
        return Refused(
            409,
            "session_too_large",
            f"The session already holds {self.settings.replay_max_session_bytes} bytes of recording; "
            "stop recording or start a new session.",
        )

    def _read(self, session_id: int, batch: Batch) -> index.SessionState | None:
        if self.postgres:
            return self._on_postgres(
                lambda connection: pg_index.session_state(connection, session_id, batch.tab, batch.seq)
            )
        with transaction(self.read_factory) as db:
            return index.session_state(db, session_id, batch.tab, batch.seq)

    def _index(
        self, state: index.SessionState, batch: Batch, blob: index.StoredBlob, now: float
    ) -> index.Added | None:
        """The segment's row, counters and devtools events; None when the session is gone."""
        at, cap = datetime.fromtimestamp(now, UTC), self.settings.replay_max_session_bytes
        if self.postgres:
            return self._on_postgres(
                lambda connection: pg_index.add_segment(
                    connection, state, batch, blob, now=at, max_session_bytes=cap
                )
            )
        try:
            with transaction(self.factory) as db:
                added = index.add_segment(db, state, batch, blob, now=at, max_session_bytes=cap)
                if added is index.Added.OVER_CAP:
                    raise _OverCap
        except _OverCap:
            return index.Added.OVER_CAP
        return added

    # ------------------------------------------------------------------ the whole path

    def _prepare(
        self, token: str | None, body: bytes, *, encoding: str | None, origin: str | None
    ) -> Outcome | Prepared:
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
        with _timed("read"):
            state = self._read(claims.session_id, batch)
        if state is None or state.project_id != claims.project_id:
            raise Refused(401, "invalid_token", "The token names no session here; start a new session.")
        if not origin_allowed(state.allowed_origins, origin):
            raise Refused(403, "origin_not_allowed", "This origin may not record sessions for this project.")
        if state.segment_exists:
            return Outcome("duplicate", state.session_id)
        if batch.empty:
            return Outcome("empty", state.session_id)
        self._check_window(batch, state, now)
        if state.replay_bytes + index.charged(len(stored), batch) > self.settings.replay_max_session_bytes:
            raise self._too_large()
        if batch.unknown_devtools:
            metrics.DEVTOOLS_IGNORED.labels("unknown_type").inc(batch.unknown_devtools)
        if batch.skipped_devtools:
            metrics.DEVTOOLS_IGNORED.labels("over_batch_limit").inc(batch.skipped_devtools)
        with _timed("blob"):
            digest = hashlib.sha256(stored).hexdigest()
            key = segment_key(state.project_id, state.session_id, batch.tab, batch.seq, digest)
            try:
                self.store.put(key, stored)
            except StoreError as exc:
                raise Refused(
                    503, "store_unavailable", f"Recording storage failed ({exc}); retry.", 5
                ) from None
        return Prepared(state, batch, index.StoredBlob(key, len(stored), len(raw), digest), now)

    def _finish(self, prepared: Prepared) -> Outcome:
        state = prepared.state
        with _timed("index"):
            added = self._index(state, prepared.batch, prepared.blob, prepared.now)
        if added is None:
            raise Refused(401, "invalid_token", "The token names no session here; start a new session.")
        if added is index.Added.OVER_CAP:
            raise self._too_large()
        if added is index.Added.DUPLICATE:
            self._discard_unless_indexed(prepared.blob.key)
            return Outcome("duplicate", state.session_id, prepared.blob.key)
        metrics.BYTES.inc(prepared.blob.size)
        return Outcome("stored", state.session_id, prepared.blob.key)
