"""Reviewer wellbeing: daily cap (set by moderators), exposure budget per category per shift,
break reminders and opt-in for the most distressing categories.

Settings live in ``User.preferences["wellbeing"]``; counts come from the votes themselves, so there
is nothing to keep in sync. :func:`claim_gate` is what the queue's claim applies: categories the
reviewer has not opted into or whose shift budget is spent are not served, and nothing is served
once the daily cap is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifier.taxonomy import load_taxonomy
from saqshy.db.models import ReviewTask, Role, User, Vote, utcnow
from saqshy.errors import InvalidInput, NotFound
from triage_api.deps import SessionDep, require_roles
from triage_api.schemas.common import IdPath
from triage_api.services.audit import append_audit

router = APIRouter(prefix="/wellbeing", tags=["wellbeing"])

PREFERENCES_KEY = "wellbeing"
# The most distressing categories: served only to reviewers who opted in, and at most this many a shift.
DISTRESSING_BUDGETS: dict[str, int] = {"suicide": 20, "extremism": 30}
SHIFT_HOURS = 8
DEFAULT_BREAK_MINUTES = 50
MAX_DAILY_CAP = 2_000

ModeratorUser = Annotated[User, Depends(require_roles(Role.MODERATOR, Role.ADMIN))]
ReviewerUser = Annotated[
    User, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR, Role.ADMIN, Role.POLICE, Role.ML_ENGINEER))
]


class CategoryExposure(BaseModel):
    name: str
    label: dict[str, str]
    severity: str
    requires_opt_in: bool
    opted_in: bool
    budget: int | None = Field(description="Items of this category a shift; null: no budget")
    shift_count: int = Field(description="Items of this category voted on in the current shift")
    served: bool = Field(description="Whether the queue serves this category to the reviewer now")


class WellbeingPublic(BaseModel):
    user_id: int
    daily_cap: int | None = Field(description="Set by moderators; null: no cap")
    reviewed_today: int = Field(description="Votes since 00:00 UTC")
    cap_reached: bool
    shift_hours: int
    shift_started_at: datetime
    break_every_minutes: int
    categories: list[CategoryExposure]
    excluded_categories: list[str]


class WellbeingSelfUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opt_in_categories: list[str] | None = Field(default=None, max_length=64)
    break_every_minutes: int | None = Field(default=None, ge=10, le=240)


class WellbeingModeratorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_cap: int | None = Field(default=None, ge=1, le=MAX_DAILY_CAP)
    budgets: dict[str, int | None] | None = Field(
        default=None, description="Per-category shift budget overrides; null value: back to the default"
    )


@dataclass(frozen=True)
class ClaimGate:
    """What the queue may serve a reviewer now."""

    cap_reached: bool
    excluded_categories: frozenset[str]


def _prefs(user: User) -> dict[str, Any]:
    raw = (user.preferences or {}).get(PREFERENCES_KEY)
    return dict(raw) if isinstance(raw, dict) else {}


def _save_prefs(user: User, prefs: dict[str, Any]) -> None:
    # JSON columns are not mutation-tracked: assign a new dict so the change is flushed.
    user.preferences = {**(user.preferences or {}), PREFERENCES_KEY: prefs}


def _known_categories(names: list[str]) -> list[str]:
    tax = load_taxonomy()
    unknown = [n for n in names if n not in tax]
    if unknown:
        raise InvalidInput(f"unknown category {unknown[0][:64]!r}; known: {', '.join(tax.names)}")
    return sorted(set(names))


def _counts_since(session: Session, user_id: int, since: datetime) -> dict[str | None, int]:
    rows = session.execute(
        select(ReviewTask.category, func.count())
        .join(Vote, Vote.task_id == ReviewTask.id)
        .where(Vote.user_id == user_id, Vote.created_at >= since, Vote.is_moderator_decision.is_(False))
        .group_by(ReviewTask.category)
    ).all()
    return {category: int(count) for category, count in rows}


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def wellbeing_for(session: Session, user: User, now: datetime | None = None) -> WellbeingPublic:
    now = now or utcnow()
    prefs = _prefs(user)
    shift_start = now - timedelta(hours=SHIFT_HOURS)
    shift_counts = _counts_since(session, user.id, shift_start)
    day_counts = _counts_since(session, user.id, _day_start(now))
    reviewed_today = sum(day_counts.values())
    daily_cap = prefs.get("daily_cap")
    opted = set(prefs.get("opt_in") or [])
    overrides: dict[str, Any] = prefs.get("budgets") or {}
    categories: list[CategoryExposure] = []
    excluded: list[str] = []
    for category in load_taxonomy():
        requires = category.name in DISTRESSING_BUDGETS
        budget = overrides.get(category.name, DISTRESSING_BUDGETS.get(category.name))
        used = shift_counts.get(category.name, 0)
        served = (not requires or category.name in opted) and (budget is None or used < budget)
        if not served:
            excluded.append(category.name)
        categories.append(
            CategoryExposure(
                name=category.name,
                label=dict(category.label),
                severity=category.severity,
                requires_opt_in=requires,
                opted_in=category.name in opted,
                budget=budget,
                shift_count=used,
                served=served,
            )
        )
    return WellbeingPublic(
        user_id=user.id,
        daily_cap=daily_cap,
        reviewed_today=reviewed_today,
        cap_reached=daily_cap is not None and reviewed_today >= daily_cap,
        shift_hours=SHIFT_HOURS,
        shift_started_at=shift_start,
        break_every_minutes=int(prefs.get("break_every_minutes") or DEFAULT_BREAK_MINUTES),
        categories=categories,
        excluded_categories=excluded,
    )


def claim_gate(session: Session, user: User) -> ClaimGate:
    """For ``claim_next``: skip ``excluded_categories``; serve nothing when ``cap_reached``."""
    state = wellbeing_for(session, user)
    return ClaimGate(cap_reached=state.cap_reached, excluded_categories=frozenset(state.excluded_categories))


def _get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


@router.get("/me", response_model=WellbeingPublic)
def read_my_wellbeing(session: SessionDep, user: ReviewerUser) -> WellbeingPublic:
    """Your daily count and cap, exposure per category this shift, opt-ins and break interval."""
    return wellbeing_for(session, user)


@router.put("/me", response_model=WellbeingPublic)
def update_my_wellbeing(body: WellbeingSelfUpdate, session: SessionDep, user: ReviewerUser) -> WellbeingPublic:
    """Opt in to (or out of) the most distressing categories; set the break reminder interval."""
    prefs = _prefs(user)
    if body.opt_in_categories is not None:
        prefs["opt_in"] = _known_categories(body.opt_in_categories)
    if body.break_every_minutes is not None:
        prefs["break_every_minutes"] = body.break_every_minutes
    _save_prefs(user, prefs)
    session.flush()
    return wellbeing_for(session, user)


@router.get("/users/{user_id}", response_model=WellbeingPublic)
def read_user_wellbeing(user_id: IdPath, session: SessionDep, _moderator: ModeratorUser) -> WellbeingPublic:
    """A reviewer's wellbeing state (moderators, admins)."""
    return wellbeing_for(session, _get_user(session, user_id))


@router.put("/users/{user_id}", response_model=WellbeingPublic)
def update_user_wellbeing(
    user_id: IdPath, body: WellbeingModeratorUpdate, session: SessionDep, moderator: ModeratorUser
) -> WellbeingPublic:
    """Set a reviewer's daily cap (null removes it) and per-category shift budgets (moderators, admins)."""
    target = _get_user(session, user_id)
    prefs = _prefs(target)
    changes: dict[str, Any] = {}
    if "daily_cap" in body.model_fields_set:
        prefs["daily_cap"] = body.daily_cap
        changes["daily_cap"] = body.daily_cap
    if body.budgets is not None:
        _known_categories(list(body.budgets))
        for name, value in body.budgets.items():
            if value is not None and not 0 <= value <= MAX_DAILY_CAP:
                raise InvalidInput(f"budget for {name} must be between 0 and {MAX_DAILY_CAP}, got {value}")
        merged = {**(prefs.get("budgets") or {}), **body.budgets}
        prefs["budgets"] = {k: v for k, v in merged.items() if v is not None}
        changes["budgets"] = body.budgets
    _save_prefs(target, prefs)
    append_audit(
        session, actor_id=moderator.id, action="wellbeing.update", entity_type="user", entity_id=target.id,
        payload=changes,
    )
    session.flush()
    return wellbeing_for(session, target)
