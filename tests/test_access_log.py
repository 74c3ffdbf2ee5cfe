"""The server's access log never shows a session token sent in the query (sendBeacon's form)."""

from __future__ import annotations

import logging

from replaylink.api.access_log import ACCESS_LOGGER, RedactTokens, redact_tokens


def test_tokens_in_the_query_are_redacted_and_the_rest_kept() -> None:
    token = "1.ShBz2abc.def"
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/ingest/v1/batches?token={token}&x=1", "1.1", 204),
        None,
    )
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert token not in line
    assert line == '127.0.0.1:5000 - "POST /ingest/v1/batches?token=[redacted]&x=1 HTTP/1.1" 204'


def test_the_filter_is_installed_once() -> None:
    redact_tokens()
    redact_tokens()
    filters = logging.getLogger(ACCESS_LOGGER).filters
    assert sum(isinstance(item, RedactTokens) for item in filters) == 1
