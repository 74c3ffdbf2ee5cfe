"""Test helpers shared by the SDK tests: tokens and a log capture."""

from __future__ import annotations

import io
import logging

TOKEN = "1.3nG7kQ2.1.1aZ9Tq.5fK2m9XqLw7pR3sT8vY1bC"
OTHER = "1.9xY7kQ2.1.1bB8Tq.6gL3n0YrMx8qS4tU9wZ2cD"


def token_for(index: int) -> str:
    """A distinct plausible token per index (for concurrency tests)."""
    return f"1.{index:06d}.1.1aZ9Tq.5fK2m9XqLw7pR3sT8vY1bC"


class LogCapture:
    """Records everything logged under the ``app`` logger, formatted as ``%(message)s``."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.handler.addFilter(self._keep)

    def _keep(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()
