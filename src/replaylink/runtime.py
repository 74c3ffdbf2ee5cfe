"""Everything a process needs, built once from :class:`Settings`: database, signer, vault."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from replaylink.config import ConfigError, Settings, reload_keys
from replaylink.replay.ingest import Ingestor
from replaylink.replay.store import ReplayStore, open_store
from replaylink.store.db import make_engine, make_read_sessionmaker, make_sessionmaker
from replaylink.tokens import TokenSigner
from replaylink.vault import Vault

log = logging.getLogger(__name__)

IMPORTER_POOL = 20
"""Connections the importer's PostgreSQL engine keeps (its database threads, plus renewals)."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    """Sessions that may write (on SQLite each transaction takes the write lock at BEGIN)."""
    read_sessions: sessionmaker[Session] = field(init=False)
    """Sessions that only read (on SQLite WAL readers that never wait for a writer)."""

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.sqlalchemy_url)
        self.sessions = make_sessionmaker(self.engine)
        self.read_sessions = make_read_sessionmaker(self.engine)

    @cached_property
    def importer_engine(self) -> Engine:
        """The importer's engine. On PostgreSQL its own, without the pool's pre-ping: a poll's
        transactions are one or a few statements, and a ping per checkout was a round trip more
        for each (a dead connection fails that poll, which is retried, and the pool replaces it).
        On SQLite the runtime's engine (in process: nothing to ping)."""
        if self.engine.dialect.name != "postgresql":
            return self.engine
        return make_engine(self.settings.sqlalchemy_url, pool_pre_ping=False, pool_size=IMPORTER_POOL)

    @cached_property
    def importer_sessions(self) -> sessionmaker[Session]:
        """Write sessions of :attr:`importer_engine`."""
        return make_sessionmaker(self.importer_engine)

    @cached_property
    def signer(self) -> TokenSigner:
        keys = self.settings.keys
        return TokenSigner(keys.secret_key, keys.previous_secret_keys)

    @cached_property
    def vault(self) -> Vault:
        """Reloads the key files when they changed (``keys rotate`` while this process runs)."""
        keys = self.settings.keys
        return Vault(keys.encryption_key, keys.previous_encryption_keys, reload=self._reload_encryption_keys)

    def _reload_encryption_keys(self) -> tuple[bytes, tuple[bytes, ...]] | None:
        try:
            keys = reload_keys(self.settings)
        except ConfigError as exc:  # names a path, never a key; the old keys stay in use
            log.warning("could not reload the encryption keys: %s", exc)
            return None
        return None if keys is None else (keys.encryption_key, keys.previous_encryption_keys)

    @cached_property
    def replay_store(self) -> ReplayStore:
        return open_store(self.settings)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(
            self.settings, self.sessions, self.signer, self.replay_store, read_factory=self.read_sessions
        )

    def close(self) -> None:
        if "ingestor" in self.__dict__:
            self.ingestor.close()
        if "importer_engine" in self.__dict__:
            self.importer_engine.dispose()
        self.engine.dispose()
