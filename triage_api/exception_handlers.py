"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from saqshy.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    SaqshyError,
    ServiceUnavailable,
)
from triage_api.services.auth import RateLimited

STATUS_BY_ERROR: dict[type[SaqshyError], int] = {
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidTransition: status.HTTP_409_CONFLICT,
    Forbidden: status.HTTP_403_FORBIDDEN,
    ServiceUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
}


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
        content={"detail": exc.message, "error": type(exc).__name__},
        headers={"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None,
    )


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: hostile input may hold lone surrogates, which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


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
    return AsciiJSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": jsonable_encoder(errors)}
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SaqshyError, saqshy_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
