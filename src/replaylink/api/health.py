"""``/healthz`` (the process is up) and ``/readyz`` (database reachable, migrations current)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from replaylink.api.deps import RuntimeDep
from replaylink.store import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(rt: RuntimeDep) -> Any:
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(rt.engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})"}, status_code=503
        )
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "migrations": f"at {current}, expected {head}; run `replaylink db upgrade`",
            },
            status_code=503,
        )
    return {"status": "ok", "database": "ok", "migrations": current}
