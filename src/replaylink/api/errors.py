"""One error shape for every answer: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from replaylink.integrations.service import Exists, Missing, Refused
from replaylink.integrations.settings import InvalidSettings
from replaylink.providers.base import validation_message
from replaylink.store import unavailable
from replaylink.vault import VaultError


class ApiError(Exception):
    """Raise from any endpoint to answer ``status`` with a code and a message for the user."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def invalid_settings(exc: InvalidSettings) -> ApiError:
    """422 ``invalid_settings`` naming every bad field (``details``: one ``{field, message}`` each)."""
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in exc.problems[:5])
    return ApiError(422, "invalid_settings", f"Fix these settings: {summary}", exc.problems)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found, or your API key cannot see it.")


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


NOT_A_JSON_OBJECT = "The body must be a JSON object, sent with Content-Type: application/json."
"""Said instead of pydantic's "Input should be a valid dictionary or object to extract fields
from", which is what a body sent without a JSON content type (curl's -d default) gets."""


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "model_attributes_type" and tuple(error.get("loc", ())) == ("body",):
        return NOT_A_JSON_OBJECT
    return validation_message(error)


def validation_details(errors: list[Any]) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per problem; never echoes the submitted value."""
    return [{"field": _field_path(e.get("loc", ())), "message": _message(e)} for e in errors]


def api_error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=exc.headers
    )


def database_unavailable_response(headers: dict[str, str] | None = None) -> JSONResponse:
    """503 ``database_unavailable`` with ``Retry-After``: the database cannot be reached or is busy
    (:func:`replaylink.store.unavailable.database_unavailable`); the same request may succeed later."""
    return JSONResponse(
        error_body(unavailable.CODE, unavailable.MESSAGE),
        status_code=503,
        headers={**(headers or {}), "Retry-After": str(unavailable.RETRY_AFTER_SECONDS)},
    )


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """400 ``malformed_json`` for a body that is not JSON, else 422 ``invalid_request`` naming the fields."""
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse(
            error_body("malformed_json", "The request body is not valid JSON; send a JSON object."),
            status_code=400,
        )
    details = validation_details(errors)
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return JSONResponse(
        error_body("invalid_request", f"Fix these fields and retry: {summary}", details),
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        status = 404 if isinstance(exc, Missing) else 412 if isinstance(exc, Exists) else 422
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc)

    @app.exception_handler(VaultError)
    async def _vault(_: Request, exc: VaultError) -> JSONResponse:
        # The message names a key id or an integration, never key material or secrets.
        return JSONResponse(error_body("credentials_unreadable", str(exc)), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
