"""The app of each process of ``replaylink serve --workers N``: HTTP only, settings from the environment.

The parent (``serve``) has already checked the settings, loaded or generated the keys, migrated
SQLite and bootstrapped the database; uvicorn imports :func:`create` in each worker it spawns.
"""

from __future__ import annotations

from fastapi import FastAPI

from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.runtime import Runtime


def create() -> FastAPI:
    return create_app(Runtime(Settings()), run_importer=False)
