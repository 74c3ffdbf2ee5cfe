"""Tables. Every change here ships with an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from replaylink.store.types import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(40), unique=True)
    """Given to the browser tracker; public, not a secret."""
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    """Origins that may start sessions; None = any origin."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the key: keys are 190-bit random, so a slow hash adds nothing."""
    prefix: Mapped[str] = mapped_column(String(16))
    """First characters of the key, to recognise it in listings."""
    name: Mapped[str] = mapped_column(String(200), default="")
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    """None = every project (an admin key)."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecordedSession(Base):
    """A browser session (named to avoid a clash with SQLAlchemy's ``Session``)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_project_started", "project_id", "started_at", "id"),
        Index("ix_sessions_project_user", "project_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    page_url: Mapped[str] = mapped_column(Text, default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, nullable=True)
    token: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The token issued at start: on-demand queries search for exactly it, even after key rotation."""

    # 0006: what the recording adds (replaylink.replay.ingest keeps these up to date)
    recording_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The first recorded event (rrweb or devtools); duration = recording_ended_at - this."""
    recording_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the last batch arrived (server time)."""
    replay_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Stored (compressed) bytes of all segments: the per-session cap counts these."""
    replay_segments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pages_visited: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    js_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Integration(Base):
    """One provider connection of a project, with its schedule, lease and health."""

    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("project_id", "provider", "name"),
        Index("ix_integrations_due", "enabled", "paused", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """Non-secret settings, as the provider's Settings model dumps them."""
    secrets: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Secret settings: one vault ciphertext (it names its key id)."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # schedule and lease
    poll_interval_seconds: Mapped[float] = mapped_column(Float, default=15.0)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checkpoint: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Provider-time high-water mark: everything before it (minus the overlap) was read."""
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_version: Mapped[int] = mapped_column(BigInteger, default=0)

    # health
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    records_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    events_imported: Mapped[int] = mapped_column(BigInteger, default=0)
    outcomes: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    """Token outcomes: matched, expired_in_grace, expired_out_of_grace, forged, malformed, ..."""
    rejected_samples: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


class IntegrationChange(Base):
    """Who changed an integration, what and when. Never holds secret values."""

    __tablename__ = "integration_history"
    __table_args__ = (Index("ix_integration_history_target", "project_id", "provider", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackendEvent(Base):
    """A provider record attached to a session (one row per record and session it names)."""

    __tablename__ = "backend_events"
    __table_args__ = (
        UniqueConstraint("integration_id", "provider_record_id", "session_id"),
        Index("ix_backend_events_session", "session_id", "timestamp"),
        Index("ix_backend_events_project_time", "project_id", "timestamp"),
        # 0003: covers the error-group aggregates (count, distinct sessions, first/last seen).
        Index("ix_backend_events_groups", "project_id", "fingerprint", "timestamp", "session_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(BigInteger)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="SET NULL"), nullable=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    provider_record_id: Mapped[str] = mapped_column(String(512))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(512))
    message: Mapped[str] = mapped_column(Text)
    exception_type: Mapped[str | None] = mapped_column(String(256), nullable=True)
    service: Mapped[str | None] = mapped_column(String(512), nullable=True)
    host: Mapped[str | None] = mapped_column(String(512), nullable=True)
    logger: Mapped[str | None] = mapped_column(String(256), nullable=True)
    stack: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OnDemandCache(Base):
    """One integration's live answer for one session (the on-demand path), until ``expires_at``."""

    __tablename__ = "on_demand_cache"
    __table_args__ = (
        UniqueConstraint("session_id", "integration_id"),
        Index("ix_on_demand_cache_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    records: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """Live records as the API returns them (bounded per record and per integration)."""


class ReplaySegment(Base):
    """One stored batch of a recording: the index row of the blob at ``key`` (0006)."""

    __tablename__ = "replay_segments"
    __table_args__ = (UniqueConstraint("session_id", "tab", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    tab: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    """Earliest event timestamp, ms since the epoch (client clock)."""
    last_ms: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(Integer)
    """Stored (gzip) size."""
    raw_bytes: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    """rrweb events in the segment."""
    has_full_snapshot: Mapped[bool] = mapped_column(Boolean)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the stored bytes (the segment's ETag)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DevtoolsEvent(Base):
    """A page load, network request, console message, JS error or custom event of a recording (0006).

    Copied out of the batch so timelines and filters never read DOM data; the batch's blob keeps
    the original.
    """

    __tablename__ = "devtools_events"
    __table_args__ = (Index("ix_devtools_events_session", "session_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    tab: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    """The batch it came in (its segment: ``replay_segments`` (session_id, tab, seq))."""
    kind: Mapped[str] = mapped_column(String(16))
    """page, network, console, error or custom."""
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """console: error or warn; error: its source (uncaught, unhandledrejection, handled)."""
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    """error name, custom event name, or the request method."""
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """The rest, bounded: stack, payload, request/response sizes, network error, page title."""


class UserProject(Base):
    """A non-admin user's access to one project (admins see every project)."""

    __tablename__ = "user_projects"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuthSession(Base):
    """A signed-in dashboard browser: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    """Idle expiry: pushed forward on use, never past ``absolute_expires_at``."""
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


# 0008: the error-group rollup. Kept by triggers on ``backend_events`` (store.rollup), never written
# by the application: every insert and delete of an event, whatever the path, updates it in the
# same transaction.


class ErrorGroupTotal(Base):
    """One error group of a project over all its stored events."""

    __tablename__ = "error_group_totals"
    __table_args__ = (Index("ix_error_group_totals_rank", "project_id", "events", "fingerprint"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    sessions: Mapped[int] = mapped_column(BigInteger)
    """Distinct sessions: rows of ``error_group_sessions``."""
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    # 0013: least and greatest event time minus the session start in its id (ms), over every
    # event ever inserted (deletes leave them as they are: still bounds).
    min_offset_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_offset_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ErrorGroupBucket(Base):
    """An error group's events in one UTC hour (``period`` 'h') or day ('d')."""

    __tablename__ = "error_group_buckets"
    # 0012: on SQLite the rows are the key's b-tree (a window's range is one sequential read).
    # 0017 adds an index by group on PostgreSQL (``store.unmodelled``).
    __table_args__ = {"sqlite_with_rowid": False}

    # Key in this order: a window's ranking reads one range of it.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(1), primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class ErrorGroupSession(Base):
    """A session with events of an error group, and how many."""

    __tablename__ = "error_group_sessions"
    # 0016: on SQLite the rows are the key's b-tree (a range reads first and last seen with it).
    __table_args__ = {"sqlite_with_rowid": False}

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    # 0016: the group's first and last event in the session (set on every row; nullable only
    # because SQLite adds a NOT NULL column with a default alone).
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ErrorGroupSessionHour(Base):
    """How many sessions of an error group started in one UTC hour (0014): the hour their ids
    encode, ``(session_id >> 22) // 3,600,000`` (hours since the ids' epoch)."""

    __tablename__ = "error_group_session_hours"
    __table_args__ = {"sqlite_with_rowid": False}

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    start_hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sessions: Mapped[int] = mapped_column(BigInteger)


class SessionEventCount(Base):
    """A session's backend events from one provider (0010; kept by triggers like the rollup)."""

    __tablename__ = "session_event_counts"

    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)


class CountedRecord(Base):
    """A provider record already counted in its integration's health, once per outcome.

    The overlap window re-reads records; these rows keep the counters (scanned, matched, each
    rejection) and the samples from counting them again. Rows older than the window are pruned.
    """

    __tablename__ = "counted_records"
    __table_args__ = (Index("ix_counted_records_integration_at", "integration_id", "record_at"),)

    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    record_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    """The record's id as backend events store it (``provider_record_id``)."""
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    """A token outcome (``matched``, ``forged``...); ``scanned`` (the record itself) only in rows
    stored before ``first_counts`` derived it from the outcomes."""
    record_at: Mapped[datetime] = mapped_column(UTCDateTime)
