"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
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

STATUS_BY_ERROR: dict[type[SaqshyError], int] = {
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidTransition: status.HTTP_409_CONFLICT,
    Forbidden: status.HTTP_403_FORBIDDEN,
    ServiceUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def _status_for(error: SaqshyError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return status.HTTP_400_BAD_REQUEST


async def saqshy_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SaqshyError)
    return JSONResponse(
        status_code=_status_for(exc),
        content={"detail": exc.message, "error": type(exc).__name__},
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SaqshyError, saqshy_error_handler)
