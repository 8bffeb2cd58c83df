"""The one place where domain errors become HTTP responses.

Every error body has ``detail`` (English, for people reading the API), ``code`` (a stable
``saqshy.errors.ErrorCode`` that clients translate) and ``params`` (values to interpolate); a
domain error adds ``error`` (its class name).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sql_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from saqshy.errors import (
    Conflict,
    DatabaseUnavailable,
    ErrorCode,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    SaqshyError,
    ServiceUnavailable,
)
from saqshy.settings import Settings
from triage_api.services.auth import AuthenticationFailed, RateLimited

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[SaqshyError], int] = {
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidTransition: status.HTTP_409_CONFLICT,
    Forbidden: status.HTTP_403_FORBIDDEN,
    ServiceUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    AuthenticationFailed: status.HTTP_401_UNAUTHORIZED,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
}

# Codes of the HTTP errors raised outside the domain (authentication, roles, routing).
CODE_BY_STATUS: dict[int, ErrorCode] = {
    status.HTTP_401_UNAUTHORIZED: ErrorCode.UNAUTHENTICATED,
    status.HTTP_403_FORBIDDEN: ErrorCode.ROLE_REQUIRED,
    status.HTTP_404_NOT_FOUND: ErrorCode.NOT_FOUND,
    status.HTTP_413_CONTENT_TOO_LARGE: ErrorCode.TOO_LARGE,
    status.HTTP_429_TOO_MANY_REQUESTS: ErrorCode.LOGIN_RATE_LIMITED,
}

# Pydantic's error types that have a more telling code than "invalid_request".
CODE_BY_VALIDATION_TYPE: dict[str, ErrorCode] = {
    "string_too_short": ErrorCode.VALUE_TOO_SHORT,
    "too_short": ErrorCode.VALUE_TOO_SHORT,
    "string_too_long": ErrorCode.VALUE_TOO_LONG,
    "too_long": ErrorCode.VALUE_TOO_LONG,
    "missing": ErrorCode.FIELD_MISSING,
    "greater_than": ErrorCode.VALUE_OUT_OF_RANGE,
    "greater_than_equal": ErrorCode.VALUE_OUT_OF_RANGE,
    "less_than": ErrorCode.VALUE_OUT_OF_RANGE,
    "less_than_equal": ErrorCode.VALUE_OUT_OF_RANGE,
}


def error_body(detail: Any, code: ErrorCode, params: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, **extra, "code": code.value, "params": jsonable_encoder(dict(params or {}))}


def _status_for(error: SaqshyError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return status.HTTP_400_BAD_REQUEST


async def saqshy_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SaqshyError)
    retry_after = exc.details.get("retry_after")
    return JSONResponse(
        status_code=_status_for(exc),
        content=error_body(exc.message, exc.code, exc.params, error=type(exc).__name__),
        headers={"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None,
    )


def database_unreachable(exc: Exception) -> bool:
    """The store could not be reached (down, restarting, a connection cut, the pool exhausted),
    as opposed to a statement that failed on a working database (a bug: HTTP 500)."""
    if isinstance(exc, sql_errors.TimeoutError):
        return True
    if isinstance(exc, sql_errors.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, sql_errors.OperationalError | sql_errors.InterfaceError)
    return False


async def database_error_handler(request: Request, exc: Exception) -> Response:
    if not database_unreachable(exc):
        raise exc
    settings: Settings = request.app.state.context.settings
    return await saqshy_error_handler(request, DatabaseUnavailable(settings.database_retry_after_seconds))


async def data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot store (e.g. a NUL character on PostgreSQL) is bad input, not a crash.
    # The session dependency has already rolled the transaction back.
    logger.info("rejected a value the database cannot store: %s", str(exc).splitlines()[0][:200])
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content=error_body("a value cannot be stored (control characters or out of range)",
                           ErrorCode.VALUE_NOT_STORABLE, error="InvalidInput"),
    )


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (status.HTTP_204_NO_CONTENT, status.HTTP_304_NOT_MODIFIED):
        return Response(status_code=exc.status_code, headers=exc.headers)  # no body allowed
    code = CODE_BY_STATUS.get(exc.status_code, ErrorCode.ERROR)
    return JSONResponse(status_code=exc.status_code, content=error_body(exc.detail, code), headers=exc.headers)


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: hostile input may hold lone surrogates, which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _validation_code(errors: list[dict[str, Any]]) -> tuple[ErrorCode, dict[str, Any]]:
    """The first problem's code and its field (the location without "body"/"query"), with its limit."""
    if not errors:
        return ErrorCode.INVALID_REQUEST, {}
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    params: dict[str, Any] = {"field": ".".join(location)}
    context = first.get("ctx") or {}
    for key in ("min_length", "max_length", "ge", "gt", "le", "lt"):
        if key in context:
            params[key] = context[key]
    return CODE_BY_VALIDATION_TYPE.get(str(first.get("type")), ErrorCode.INVALID_REQUEST), params


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        error = dict(error)
        # Echo at most a short prefix of the offending value: it may be megabytes of hostile text.
        value = error.get("input")
        if isinstance(value, str) and len(value) > 200:
            error["input"] = value[:200] + "…"
        elif isinstance(value, (dict, list)) and len(json.dumps(jsonable_encoder(value), default=str)) > 2000:
            error["input"] = "(omitted: too large)"
        errors.append(error)
    code, params = _validation_code(errors)
    return AsciiJSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content=error_body(jsonable_encoder(errors), code, params),
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SaqshyError, saqshy_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(sql_errors.DataError, data_error_handler)
    app.add_exception_handler(sql_errors.DBAPIError, database_error_handler)
    app.add_exception_handler(sql_errors.TimeoutError, database_error_handler)
