"""Full-text search over items (``GET /search``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from saqshy.db.models import Role, TaskStatus, Verdict
from saqshy.errors import ErrorCode, InvalidInput
from saqshy.search.base import SearchQuery
from triage_api.deps import ContextDep, SessionDep, require_roles
from triage_api.schemas.common import Page
from triage_api.schemas.search import ItemHitPublic
from triage_api.services.search import search_items

router = APIRouter(prefix="/search", tags=["search"])

# Volunteers review blind: search shows decisions and scores, so it is not theirs. Police search
# to find an item's case and what else its source published.
SEARCHERS = (Role.MODERATOR, Role.POLICE, Role.ML_ENGINEER, Role.ADMIN)


@router.get("", response_model=Page[ItemHitPublic], dependencies=[Depends(require_roles(*SEARCHERS))])
def search(
    ctx: ContextDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=1000, description="Words that must all appear")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    source_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    status: Annotated[TaskStatus | None, Query(description="Review task status")] = None,
    decision: Annotated[Verdict | None, Query(description="The review task's decision")] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    fetched_from: Annotated[datetime | None, Query(description="Fetched at or after")] = None,
    fetched_to: Annotated[datetime | None, Query(description="Fetched before")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Page[ItemHitPublic]:
    """Items matching the words and filters, best first (newest first without words).

    Roles: moderator, police, ml_engineer, admin.
    """
    try:
        query = SearchQuery(
            text=q,
            category=category,
            language=language,
            source_id=source_id,
            task_status=status,
            decision=decision,
            min_score=min_score,
            max_score=max_score,
            fetched_from=fetched_from,
            fetched_to=fetched_to,
            offset=offset,
            limit=limit,
        )
    except ValidationError as exc:
        raise InvalidInput("; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors()),
                           code=ErrorCode.SEARCH_FILTERS_INVALID) from None
    # The embedded FTS index lives in the SQLite store's own file, and every transaction there
    # takes the write lock (BEGIN IMMEDIATE): end this request's transaction (authentication may
    # have written) before the engine opens its own, or the two would wait on each other.
    session.commit()
    hits, total = search_items(session, ctx.search, query)
    return Page(items=[ItemHitPublic.model_validate(hit) for hit in hits], total=total, offset=offset, limit=limit)
