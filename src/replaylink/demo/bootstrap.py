"""The demo's data directory: keys, schema, a project, a dashboard sign-in and an API key.

They are created through the same store functions ``replaylink serve`` bootstraps with, and kept
in ``demo.json`` (mode 0600) so a restart without ``--reset`` prints the same sign-in.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate
from replaylink.store.db import transaction

ACCOUNT_FILE = "demo.json"
MARKER_FILE = ".replaylink-demo"
"""Written first into a new demo directory: only directories carrying it are reset or reused."""
EMAIL = "demo@localhost"
PROJECT = "Demo shop"


class DemoError(Exception):
    """Something the user must fix before the demo can run; the message says what."""


class DemoSettings(Settings):
    """ReplayLink's settings for the demo: only what the demo passes, never the caller's environment
    (a ``REPLAYLINK_DATABASE_URL`` pointing at production must not be touched by a demo)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    api_key: str
    project_id: int
    project_key: str


def is_demo_dir(data_dir: Path) -> bool:
    return (data_dir / MARKER_FILE).exists() or (data_dir / ACCOUNT_FILE).exists()


def reset(data_dir: Path) -> None:
    """Delete a demo directory; refuse anything that does not look like one."""
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise DemoError(f"{data_dir} is not a directory; pass another --data-dir.")
    if any(data_dir.iterdir()) and not is_demo_dir(data_dir):
        raise DemoError(
            f"{data_dir} is not empty and was not created by the demo, so it is not a demo directory; "
            "--reset deletes only demo directories: delete it yourself or pass another --data-dir."
        )
    shutil.rmtree(data_dir)


def claim(data_dir: Path) -> None:
    """Create (or reuse) a demo directory; refuse a directory with other contents before touching it."""
    if data_dir.exists() and any(data_dir.iterdir()) and not is_demo_dir(data_dir):
        raise DemoError(
            f"{data_dir} is not empty and was not created by the demo (a ReplayLink data directory?); "
            "the demo leaves it alone: pass another --data-dir."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER_FILE).touch()


def prepare(settings: Settings) -> DemoAccount:
    """Migrate the demo database and return its account, creating it on first use."""
    data_dir = settings.data_dir
    claim(data_dir)
    settings.keys  # noqa: B018 - generate the key files before `serve` reads them
    rt = Runtime(settings)
    try:
        migrate.upgrade(rt.engine)
        stored = _load(data_dir / ACCOUNT_FILE)
        if stored is not None:
            return stored
        with transaction(rt.sessions) as db:
            if not accounts.is_empty(db):
                raise DemoError(
                    f"{data_dir} holds accounts but no {ACCOUNT_FILE}; "
                    "pass --reset to start from an empty demo directory."
                )
            project = accounts.create_project(db, PROJECT)
            password = secrets.token_urlsafe(12)
            user = accounts.create_user(db, EMAIL, password, is_admin=True)
            key = accounts.create_api_key(db, None, name="demo", user_id=user.id)
            account = DemoAccount(EMAIL, password, key.key, project.id, project.public_key)
    finally:
        rt.close()
    _save(data_dir / ACCOUNT_FILE, asdict(account))
    return account


def configure_log_store(
    settings: Settings, account: DemoAccount, name: str, sent: dict[str, Any], poll_interval: float
) -> None:
    """Save the demo's Elasticsearch integration through the integration service, as the API does:
    validated, checked against the store (refused if the check fails), encrypted, audited."""
    import anyio

    from replaylink.integrations import service

    rt = Runtime(settings)

    def save() -> None:  # the service calls the provider through anyio's worker-thread bridge
        with transaction(rt.sessions) as db:
            service.save(
                db,
                rt,
                project_id=account.project_id,
                provider="elasticsearch",
                name=name,
                sent=sent,
                poll_interval=poll_interval,
                check=True,
                actor="replaylink demo",
            )

    async def in_worker_thread() -> None:
        await anyio.to_thread.run_sync(save)

    try:
        anyio.run(in_worker_thread)
    except service.Refused as exc:
        raise DemoError(f"ReplayLink refused the demo's Elasticsearch integration: {exc.message}") from None
    finally:
        rt.close()


def _load(path: Path) -> DemoAccount | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return DemoAccount(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        raise DemoError(f"{path} is damaged; pass --reset to start from an empty demo directory.") from None


def _save(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
