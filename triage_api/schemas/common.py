"""Shapes shared by every resource: pages of results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from saqshy.text import clean_text
from saqshy.timeutil import as_utc

T = TypeVar("T")


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _clean_line(value: str) -> str:
    return clean_text(value)


def _clean_note(value: str) -> str:
    return clean_text(value, multiline=True)


# People's text that reaches other people (moderators, the police bundle): no invisible or
# direction-changing characters (``saqshy.text``); a refused value is a 422 naming the field.
CleanLine = Annotated[str, AfterValidator(_clean_line)]
CleanNote = Annotated[str, AfterValidator(_clean_note)]

MAX_PAGE = 200

OffsetParam = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")]
# Ids fit a 32-bit integer column: a bigger one is a 422, not a database error.
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Rows per page (at most {MAX_PAGE}).")]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as the JSON response, serialised where the endpoint's work runs.

    FastAPI checks a returned model against the route's ``response_model`` again before
    serialising it (``fastapi.routing.serialize_response``), and for a sync endpoint it does that
    on a worker thread of its own: a second hop after the endpoint's. The review loop's hot
    endpoints (claim, vote) return this instead: the same bytes, without the second check or hop;
    their ``response_model`` still states the shape in the OpenAPI schema.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently ignored; no NUL in any string
    (PostgreSQL cannot store it, SQLite would, so both engines reject it the same way)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value
