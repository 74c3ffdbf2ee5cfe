"""Bounded request parameters shared by the session and backend-error endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from replaylink import providers
from replaylink.api.errors import ApiError
from replaylink.store import keyset
from replaylink.store.text_search import MESSAGE_CHARS, search_words

ProviderName = Annotated[
    str, Path(max_length=32, description="One of: " + ", ".join(providers.names()) + ".")
]
IntegrationName = Annotated[
    str,
    Path(
        max_length=64,
        description="Lets a project have several integrations of one provider; usually 'default'.",
    ),
]
MAX_SESSION_ID = 2**63 - 1
MAX_PROJECT_ID = 2**31 - 1
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _utc(value: datetime | None) -> datetime | None:
    """Naive means UTC; an instant outside the calendar after conversion is refused."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


def _known_provider(value: str | None) -> str | None:
    if value is not None and value not in providers.names():
        raise ValueError(f"choose one of: {', '.join(providers.names())}")
    return value


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


ProjectId = Annotated[int, Path(ge=1, le=MAX_PROJECT_ID)]
SessionId = Annotated[
    int,
    Path(
        ge=0,
        le=MAX_SESSION_ID,
        description="The session id (a 63-bit integer; JSON answers give it as a string).",
    ),
]
Fingerprint = Annotated[
    str,
    Path(min_length=1, max_length=64, description="An error group's fingerprint."),
    AfterValidator(_no_nul),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
Cursor = Annotated[
    str | None,
    Query(max_length=keyset.MAX_CURSOR_CHARS, description="`next_cursor` of the previous page."),
]
Since = Annotated[
    datetime | None,
    Query(alias="from", description="Inclusive lower bound (ISO 8601; naive = UTC)."),
    AfterValidator(_utc),
]
Until = Annotated[
    datetime | None,
    Query(alias="to", description="Exclusive upper bound (ISO 8601; naive = UTC)."),
    AfterValidator(_utc),
]
ProviderFilter = Annotated[
    str | None,
    Query(max_length=32, description="Only this provider.", json_schema_extra={"enum": providers.names()}),
    AfterValidator(_known_provider),
]


def _search_text(value: str | None) -> str | None:
    """Blank means no filter; text without a letter or digit has no word to look for."""
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not search_words(value):
        raise ValueError("needs a letter or digit: punctuation only separates words")
    return value


SearchText = Annotated[
    str | None,
    Query(
        alias="q",
        max_length=200,
        description=(
            "Words that must all be in a backend error's title or message (its first "
            f"{MESSAGE_CHARS:,} characters), in any order and any case, each as a whole word or "
            'the start of one: `pay decl` finds "Payment declined", `clined` does not. Words are runs '
            "of letters and digits; spaces and punctuation only separate them (`cart_id` is `cart id`), "
            "and nothing is search syntax (quotes, `*`, `-`, `OR`, `NEAR` are plain text). Accents "
            "matter. A value with no letter or digit is refused (422). Each request does bounded "
            "work: a session list search may stop before its page is full (`searched_to` says how "
            "far back it searched; `next_cursor` goes on), and error groups of a search matching "
            "many events are counted from a sample (`estimated`)."
        ),
    ),
    AfterValidator(_search_text),
]


UserId = Annotated[
    str | None, Query(max_length=256, description="The tracker's user id."), AfterValidator(_no_nul)
]


def bad_cursor() -> ApiError:
    return ApiError(422, "invalid_cursor", "This cursor is not valid here; start again without a cursor.")
