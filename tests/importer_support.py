"""Helpers for importer tests: a controllable clock, sessions, integrations, one importer round."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from replaylink.config import Settings
from replaylink.importer.poll import PollContext, PollResult
from replaylink.importer.worker import Importer
from replaylink.integrations.settings import context, split, validate
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent, Integration
from replaylink.store.sessions import start_session


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Overrides conftest's: the importer reads exactly what a test places (no settle delay, a
    5 min overlap, no retries). Import it into an importer test module by name."""
    from tests.conftest import make_settings  # here: conftest imports this module

    return make_settings(tmp_path / "data", db_url, settle_seconds=0, overlap_seconds=300, provider_retries=0)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new_session(
    rt: Runtime, project_id: int, at: datetime, lifetime: timedelta = timedelta(hours=2)
) -> tuple[int, str]:
    with transaction(rt.sessions) as db:
        session, token = start_session(
            db,
            rt.signer,
            project_id=project_id,
            lifetime=lifetime,
            page_url="https://shop.example/",
            user_agent="test",
            user_id=None,
            metadata=None,
            token=None,
            at=at,
        )
        return session.id, token


def add_integration(
    rt: Runtime, project_id: int, provider: str, raw: dict[str, Any], clock: Clock, name: str = "default"
) -> int:
    model = validate(provider, raw, block_private=False)
    public, secrets = split(model)
    with transaction(rt.sessions) as db:
        row = store.create(
            db,
            project_id=project_id,
            provider=provider,
            name=name,
            settings=public,
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=24),
        )
        row.secrets = rt.vault.encrypt(secrets, context(row)) if secrets else None
        row.next_poll_at = clock.now
        row.checkpoint = clock.now - timedelta(hours=24)
        return row.id


def context_for(rt: Runtime, clock: Clock) -> PollContext:
    return PollContext(
        sessions=rt.sessions, settings=rt.settings, signer=rt.signer, vault=rt.vault, clock=clock
    )


async def one_round(importer: Importer) -> list[PollResult]:
    """Claim whatever is due now and wait for those polls."""
    return list(await asyncio.gather(*await importer.claim()))


def events(rt: Runtime, **where: Any) -> list[BackendEvent]:
    with transaction(rt.sessions) as db:
        query = select(BackendEvent).order_by(BackendEvent.timestamp, BackendEvent.id)
        for key, value in where.items():
            query = query.where(getattr(BackendEvent, key) == value)
        return list(db.scalars(query))


def event_count(rt: Runtime) -> int:
    with transaction(rt.sessions) as db:
        return int(db.scalar(select(func.count()).select_from(BackendEvent)) or 0)


def integration(rt: Runtime, integration_id: int) -> Integration:
    with transaction(rt.sessions) as db:
        row = db.get(Integration, integration_id)
        assert row is not None
        return row
