"""Statistics (``GET /stats``): queue depth, decisions, agreement, police outcomes, takedowns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from saqshy.db.models import Role
from triage_api.deps import SessionDep, require_roles
from triage_api.schemas.stats import StatsPublic
from triage_api.services.stats import compute_stats

router = APIRouter(prefix="/stats", tags=["stats"])

STATS_READERS = (Role.MODERATOR, Role.POLICE, Role.ML_ENGINEER, Role.ADMIN)


@router.get("", response_model=StatsPublic, dependencies=[Depends(require_roles(*STATS_READERS))])
def stats(session: SessionDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> StatsPublic:
    """Figures over the last ``days`` days (queue depth and case counts: now). Roles: moderator, police,
    ml_engineer, admin."""
    return StatsPublic.model_validate(compute_stats(session, days=days))
