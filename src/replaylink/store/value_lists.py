"""``column IN (values)`` as one bound parameter, whatever the number of values.

An expanding ``IN`` list renders, binds and coerces one parameter per value on every execution
(milliseconds of client CPU for a few thousand values). One parameter instead: an array on
PostgreSQL (``= ANY(:values)``), a JSON list read by ``json_each`` on SQLite.

On PostgreSQL the array goes as its text literal when no value needs quoting (integers,
fingerprints, names), typed as the array it is (``_Literal``), so that the planner still sees its
values: psycopg's list dumper checks every value with a regular expression (280 µs for 110
fingerprints; 13 such lists make a 24 h error-group page). A literal cast on the server instead
is not folded into the plan (``array_in`` is only stable): that page's statements took 1.6x as long.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg.adapt import Dumper
from sqlalchemy import BigInteger, ColumnElement, String, any_, bindparam, func, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType, TypeEngine

INTEGERS: TypeEngine[int] = BigInteger()
STRINGS: TypeEngine[str] = String()
_PLAIN = re.compile(r"[0-9A-Za-z_.:-]+(?:,[0-9A-Za-z_.:-]+)*")
"""Array literal elements that need no quotes (non-empty, no separator, quote, brace or space)."""
_NULL = re.compile(r"(?:^|,)null(?:,|$)", re.IGNORECASE)
"""An unquoted element that reads as NULL."""


class _Literal(str):
    """An array's text literal, sent as it is: ``_Strings`` as ``varchar[]``, ``_Integers`` as ``int8[]``."""


class _Strings(_Literal):
    pass


class _Integers(_Literal):
    pass


class _LiteralDumper(Dumper):
    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()


class _StringsDumper(_LiteralDumper):
    oid = psycopg.postgres.types["varchar"].array_oid


class _IntegersDumper(_LiteralDumper):
    oid = psycopg.postgres.types["int8"].array_oid


# On psycopg's global adapters (copied by every new connection), for these private types only.
psycopg.adapters.register_dumper(_Strings, _StringsDumper)
psycopg.adapters.register_dumper(_Integers, _IntegersDumper)


def one_of(
    dialect: str, column: Any, values: Sequence[int | str], element: TypeEngine[Any]
) -> ColumnElement[bool]:
    """SQL: ``column`` (a column or an expression) is one of ``values``, of the type ``element``
    (``INTEGERS`` or ``STRINGS``)."""
    if dialect == "postgresql":
        literal = _array_literal(values)
        array: Any = bindparam("values", list(values), type_=ARRAY(element), unique=True)
        if literal is not None:
            typed = _Integers(literal) if isinstance(element, BigInteger) else _Strings(literal)
            # Its type for SQLAlchemy's comparison only: no bind processing (it is not a list).
            array = type_coerce(bindparam("values", typed, type_=NullType(), unique=True), ARRAY(element))
        return cast(ColumnElement[bool], column == any_(array))
    listed = func.json_each(json.dumps(list(values))).table_valued("value")
    return cast(ColumnElement[bool], column.in_(select(listed.c.value)))


def _array_literal(values: Sequence[int | str]) -> str | None:
    """PostgreSQL's text form of the array of ``values``, or None when one would need quotes
    (a separator, quote, brace, space or backslash; empty; or read as NULL)."""
    joined = ",".join(map(str, values))
    if joined.count(",") != len(values) - 1 or not _PLAIN.fullmatch(joined) or _NULL.search(joined):
        return None
    return "{" + joined + "}"
