"""uvicorn's access log without the session tokens a ``?token=`` query carries (the tracker's
sendBeacon form of the batches endpoint): a token lets whoever holds it write to that session."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"([?&]token=)[^&\s]*")
ACCESS_LOGGER = "uvicorn.access"


class RedactTokens(logging.Filter):
    """Rewrites the request line of uvicorn's access records (its third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "token=" in args[2]:
            record.args = (*args[:2], _TOKEN.sub(r"\1[redacted]", args[2]), *args[3:])
        return True


def redact_tokens() -> None:
    """Install :class:`RedactTokens` on uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(item, RedactTokens) for item in logger.filters):
        logger.addFilter(RedactTokens())
