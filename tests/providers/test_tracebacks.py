"""Exceptions read back from log text: Python tracebacks, the seed snippet's form, exception lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from replaylink.providers.base import Limits, Record, StackFrame, bound_record
from replaylink.providers.tracebacks import parse_exception

TOKEN = "v1.AbCdEf0123.sig"
TAG = f"[openReplaySessionToken={TOKEN}] "

PLAIN_TRACEBACK = """ERROR:app:checkout failed
Traceback (most recent call last):
  File "/srv/app/views.py", line 42, in checkout
    total = price(cart)
            ^^^^^^^^^^^
  File "/srv/app/pricing.py", line 7, in price
    return cart["items"]
KeyError: 'items'"""

SEED_TRACEBACK = (
    # What the seeds' patched stderr writes: each chunk print_exception writes gets the tag, and
    # the patched print_exception puts the tag in front of the exception's value too.
    f"{TAG}Traceback (most recent call last):\n"
    f'{TAG}  File "/srv/app/views.py", line 42, in checkout\n'
    "    total = price(cart)\n"
    f'{TAG}  File "/srv/app/pricing.py", line 7, in price\n'
    '    raise ValueError("bad cart")\n'
    f"{TAG}ValueError: {TAG}bad cart"
)

CHAINED = """Traceback (most recent call last):
  File "a.py", line 1, in <module>
    x()
ZeroDivisionError: division by zero

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "b.py", line 9, in handler
    report()
myapp.errors.ReportFailed: could not report"""


def test_python_traceback() -> None:
    parsed = parse_exception(PLAIN_TRACEBACK)
    assert parsed is not None
    assert (parsed.type, parsed.value, parsed.title) == ("KeyError", "'items'", "KeyError: 'items'")
    assert parsed.stack == [
        StackFrame(
            filename="/srv/app/views.py", function="checkout", lineno=42, context="total = price(cart)"
        ),
        StackFrame(
            filename="/srv/app/pricing.py", function="price", lineno=7, context='return cart["items"]'
        ),
    ]


def test_seed_snippet_form() -> None:
    parsed = parse_exception(SEED_TRACEBACK)
    assert parsed is not None
    assert (parsed.type, parsed.title) == ("ValueError", f"ValueError: {TAG}bad cart")  # stored: stripped
    assert parsed.stack is not None
    assert [(f.filename, f.function, f.lineno) for f in parsed.stack] == [
        ("/srv/app/views.py", "checkout", 42),
        ("/srv/app/pricing.py", "price", 7),
    ]
    # Only the last line, as a provider that keeps one line per record holds it.
    last = parse_exception(f"ValueError: {TAG}boom")
    assert last is not None and (last.type, last.title, last.stack) == (
        "ValueError",
        f"ValueError: {TAG}boom",
        None,
    )


def test_the_last_of_chained_exceptions_wins() -> None:
    parsed = parse_exception(CHAINED)
    assert parsed is not None and parsed.type == "myapp.errors.ReportFailed"
    assert parsed.stack is not None and [f.filename for f in parsed.stack] == ["b.py"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "all good",
        "error: disk full",
        "Traceback (most recent call last):",
        "x" * 100_000,
        "a: b\n" * 1000,
    ],
)
def test_text_without_an_exception(text: str) -> None:
    assert parse_exception(text) is None


def test_a_bare_exception_line_and_java() -> None:
    java = parse_exception("java.lang.IllegalStateException: closed\n\tat a.b.C.d(C.java:1)")
    assert java is not None and (java.type, java.stack) == ("java.lang.IllegalStateException", None)
    bare = parse_exception('Traceback (most recent call last):\n  File "x.py", line 1, in f\nStopIteration')
    assert bare is not None and (bare.type, bare.title) == ("StopIteration", "StopIteration")


def _record(message: str, **fields: object) -> Record:
    return Record(provider_id="1", timestamp=datetime(2026, 1, 1, tzinfo=UTC), message=message, **fields)  # type: ignore[arg-type]


def test_every_providers_records_get_stack_and_type_from_the_message() -> None:
    record = bound_record(_record(PLAIN_TRACEBACK), Limits())
    assert record.exception_type == "KeyError" and record.stack and len(record.stack) == 2
    # A provider's own structured answer wins; a different exception in the text is not mixed in.
    own = [StackFrame(filename="x.py", lineno=1)]
    kept = bound_record(_record(PLAIN_TRACEBACK, stack=own, exception_type="TypeError", title="T"), Limits())
    assert (kept.stack, kept.exception_type, kept.title) == (own, "TypeError", "T")
    other = bound_record(_record(PLAIN_TRACEBACK, exception_type="TypeError"), Limits())
    assert other.stack is None
    # Parsed before the message is cut: a long log still keeps its exception.
    long = bound_record(_record("x" * 40_000 + "\n" + PLAIN_TRACEBACK), Limits(message_bytes=1024))
    assert long.exception_type == "KeyError" and long.stack
