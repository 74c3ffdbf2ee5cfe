"""Celery: the token travels in the message headers to a real (in-process) worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, Task, signals
from celery.contrib.testing.worker import start_worker
from sdk_support import OTHER, TOKEN, LogCapture

from replaylink_sdk import celery as sdk_celery
from replaylink_sdk import get_token, use_token

log = logging.getLogger("app")


def keep_logging_as_is(**kwargs: Any) -> None:
    """A ``setup_logging`` receiver: Celery then leaves the process's logging configuration alone."""


@pytest.fixture(scope="module")
def job() -> Iterator[Task]:
    """A task that logs its label and returns the token it runs with, served by a solo worker."""
    app = Celery("sdk-tests", broker="memory://", backend="cache+memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False
    app.conf.broker_transport_options = {"polling_interval": 0.01}

    @app.task(name="sdk.job")
    def job(label: str) -> str | None:
        log.info("job %s", label)
        return get_token()

    sdk_celery.install()
    signals.setup_logging.connect(keep_logging_as_is)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False):
            yield job
    finally:
        signals.setup_logging.disconnect(keep_logging_as_is)
        sdk_celery.uninstall()


def test_task_runs_in_the_worker_with_the_publishers_token(job: Task, logs: LogCapture) -> None:
    with use_token(TOKEN):
        tagged = job.delay("tagged")
    untagged = job.delay("untagged")
    assert tagged.get(timeout=30, interval=0.01) == TOKEN
    assert untagged.get(timeout=30, interval=0.01) is None
    assert sorted(logs.lines) == [f"[openReplaySessionToken={TOKEN}] job tagged", "job untagged"]


def test_header_set_by_hand_is_used_only_when_plausible(job: Task) -> None:
    plausible = job.apply_async(("by hand",), headers={"openReplaySessionToken": OTHER})
    forged = job.apply_async(("forged",), headers={"openReplaySessionToken": "forged\r\nvalue"})
    assert plausible.get(timeout=30, interval=0.01) == OTHER
    assert forged.get(timeout=30, interval=0.01) is None


def test_eager_tasks_keep_the_callers_token(job: Task) -> None:
    with use_token(OTHER):
        assert job.apply(("eager",)).get() == OTHER
