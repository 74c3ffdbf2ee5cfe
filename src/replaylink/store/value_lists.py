"""``column IN (values)`` as one bound parameter, whatever the number of values.

An expanding ``IN`` list renders, binds and coerces one parameter per value on every execution
(milliseconds of client CPU for a few thousand values). One parameter instead: an array on
PostgreSQL (``= ANY(:values)``), a JSON list read by ``json_each`` on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine

INTEGERS: TypeEngine[int] = BigInteger()
STRINGS: TypeEngine[str] = String()


def one_of(
    dialect: str, column: Any, values: Sequence[int | str], element: TypeEngine[Any]
) -> ColumnElement[bool]:
    """SQL: ``column`` (a column or an expression) is one of ``values``, of the type ``element``
    (``INTEGERS`` or ``STRINGS``)."""
    if dialect == "postgresql":
        array = bindparam("values", list(values), type_=ARRAY(element), unique=True)
        return cast(ColumnElement[bool], column == any_(array))
    listed = func.json_each(json.dumps(list(values))).table_valued("value")
    return cast(ColumnElement[bool], column.in_(select(listed.c.value)))
