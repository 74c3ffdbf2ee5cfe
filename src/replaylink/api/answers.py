"""JSON answers serialised once.

FastAPI handles a returned model by dumping it, validating the dump against the route's
``response_model`` and dumping that again to JSON: three passes over every sample event of an
error-group page or every event of a session (about 2 ms of a 100-group page). A model built here
from typed rows is valid as built, so the pages that carry many rows answer :func:`json_answer`
instead; their routes keep ``response_model`` for the API's documentation.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_answer(model: BaseModel) -> Response:
    """``model`` as a 200 JSON answer (pydantic's serialiser, in one pass)."""
    return Response(model.model_dump_json(), media_type="application/json")
