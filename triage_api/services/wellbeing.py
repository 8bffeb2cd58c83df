"""Reviewer wellbeing: daily cap (set by moderators), exposure budget per category per shift,
the reviewer's own per-category daily limits, text blur per category, break reminders and opt-in
for the most distressing categories.

Settings live in ``User.preferences["wellbeing"]``; counts come from the votes themselves, so there
is nothing to keep in sync. :func:`claim_gate` is what the queue's claim applies
(``queue.claim``): categories the reviewer has not opted into, whose shift budget is spent or
whose own daily limit is reached are not served, and nothing is served once the daily cap is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from classifier.taxonomy import load_taxonomy
from saqshy.db.models import ReviewTask, Role, User, Vote
from saqshy.errors import ErrorCode, Forbidden, InvalidInput, NotFound
from saqshy.timeutil import utcnow
from triage_api.schemas.wellbeing import MAX_DAILY_CAP
from triage_api.services.audit import append_audit
from triage_api.services.auth import Actor

PREFERENCES_KEY = "wellbeing"
# The most distressing categories: served only to reviewers who opted in, and at most this many a shift.
DISTRESSING_BUDGETS: dict[str, int] = {"suicide": 20, "extremism": 30}
SHIFT_HOURS = 8
DEFAULT_BREAK_MINUTES = 50
# Whose wellbeing each role may read and limit: reviewers below it, never staff of other kinds.
MANAGED_REVIEWERS: dict[Role, frozenset[Role]] = {
    Role.MODERATOR: frozenset({Role.VOLUNTEER}),
    Role.ADMIN: frozenset({Role.VOLUNTEER, Role.MODERATOR}),
}

__all__ = [
    "DEFAULT_BREAK_MINUTES", "DISTRESSING_BUDGETS", "MAX_DAILY_CAP", "PREFERENCES_KEY", "SHIFT_HOURS",
    "CategoryState", "ClaimGate", "WellbeingState", "claim_gate", "get_managed_user", "get_user", "update_for_user",
    "update_own",
    "wellbeing_for",
]


@dataclass(frozen=True)
class CategoryState:
    name: str
    label: dict[str, str]
    severity: str
    requires_opt_in: bool
    opted_in: bool
    budget: int | None
    shift_count: int
    own_daily_budget: int | None
    today_count: int
    blur_text: bool
    served: bool


@dataclass(frozen=True)
class WellbeingState:
    user_id: int
    daily_cap: int | None
    reviewed_today: int
    cap_reached: bool
    shift_hours: int
    shift_started_at: datetime
    break_every_minutes: int
    categories: list[CategoryState]
    excluded_categories: list[str]


@dataclass(frozen=True)
class ClaimGate:
    """What the queue may serve a reviewer now."""

    cap_reached: bool
    excluded_categories: frozenset[str]


def _prefs(user: Actor) -> dict[str, Any]:
    raw = (user.preferences or {}).get(PREFERENCES_KEY)
    return dict(raw) if isinstance(raw, dict) else {}


def _save_prefs(user: User, prefs: dict[str, Any]) -> None:
    # JSON columns are not mutation-tracked: assign a new dict so the change is flushed.
    user.preferences = {**(user.preferences or {}), PREFERENCES_KEY: prefs}


def _known_categories(names: list[str]) -> list[str]:
    tax = load_taxonomy()
    unknown = [n for n in names if n not in tax]
    if unknown:
        raise InvalidInput(f"unknown category {unknown[0][:64]!r}; known: {', '.join(tax.names)}",
                           code=ErrorCode.UNKNOWN_CATEGORY, params={"category": unknown[0][:64]})
    return sorted(set(names))


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# Built once (every claim runs it): bind parameters instead of a new statement per call.
_COUNTS = (
    select(
        ReviewTask.category,
        func.sum(case((Vote.created_at >= bindparam("shift_start", type_=Vote.created_at.type), 1), else_=0)),
        func.sum(case((Vote.created_at >= bindparam("day_start", type_=Vote.created_at.type), 1), else_=0)),
    )
    .join(Vote, Vote.task_id == ReviewTask.id)
    .where(
        Vote.user_id == bindparam("user_id"),
        Vote.created_at >= bindparam("since"),
        Vote.is_moderator_decision.is_(False),
    )
    .group_by(ReviewTask.category)
)


def _counts(
    session: Session, user_id: int, shift_start: datetime, day_start: datetime
) -> tuple[dict[str | None, int], dict[str | None, int]]:
    """Votes per category since ``shift_start`` and since ``day_start``: one query."""
    rows = session.execute(_COUNTS, {"user_id": user_id, "shift_start": shift_start, "day_start": day_start,
                                     "since": min(shift_start, day_start)}).all()
    return ({category: int(shift or 0) for category, shift, _ in rows},
            {category: int(day or 0) for category, _, day in rows})


def _budget(overrides: dict[str, Any], category: str) -> int | None:
    budget: int | None = overrides.get(category, DISTRESSING_BUDGETS.get(category))
    return budget


def _counts_matter(prefs: dict[str, Any]) -> bool:
    """Whether the reviewer's counts can change what is served: a daily cap, or a budget on a
    category they are otherwise served. Most volunteers have neither, and their claims skip the query."""
    if prefs.get("daily_cap") is not None or prefs.get("daily_budgets"):
        return True
    opted = set(prefs.get("opt_in") or [])
    overrides: dict[str, Any] = prefs.get("budgets") or {}
    return any(
        _budget(overrides, category.name) is not None
        and (category.name not in DISTRESSING_BUDGETS or category.name in opted)
        for category in load_taxonomy()
    )


def wellbeing_for(session: Session, user: Actor, now: datetime | None = None) -> WellbeingState:
    return _state(session, user, now or utcnow(), count=True)


def _state(session: Session, user: Actor, now: datetime, *, count: bool) -> WellbeingState:
    """The reviewer's state; with ``count`` false the counts are taken as zero (see claim_gate)."""
    prefs = _prefs(user)
    shift_start = now - timedelta(hours=SHIFT_HOURS)
    shift_counts: dict[str | None, int] = {}
    day_counts: dict[str | None, int] = {}
    if count:
        shift_counts, day_counts = _counts(session, user.id, shift_start, _day_start(now))
    reviewed_today = sum(day_counts.values())
    daily_cap = prefs.get("daily_cap")
    opted = set(prefs.get("opt_in") or [])
    overrides: dict[str, Any] = prefs.get("budgets") or {}
    own_budgets: dict[str, int] = prefs.get("daily_budgets") or {}
    blurred = set(prefs.get("blur_text") or [])
    categories: list[CategoryState] = []
    excluded: list[str] = []
    for category in load_taxonomy():
        requires = category.name in DISTRESSING_BUDGETS
        budget = _budget(overrides, category.name)
        used = shift_counts.get(category.name, 0)
        own = own_budgets.get(category.name)
        today = day_counts.get(category.name, 0)
        served = ((not requires or category.name in opted) and (budget is None or used < budget)
                  and (own is None or today < own))
        if not served:
            excluded.append(category.name)
        categories.append(
            CategoryState(
                name=category.name,
                label=dict(category.label),
                severity=category.severity,
                requires_opt_in=requires,
                opted_in=category.name in opted,
                budget=budget,
                shift_count=used,
                own_daily_budget=own,
                today_count=today,
                blur_text=category.name in blurred,
                served=served,
            )
        )
    return WellbeingState(
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


def claim_gate(session: Session, user: Actor, now: datetime | None = None) -> ClaimGate:
    """For ``queue.claim``: skip ``excluded_categories``; serve nothing when ``cap_reached``."""
    # Without a cap or a budget that applies, the counts cannot exclude anything: no query.
    state = _state(session, user, now or utcnow(), count=_counts_matter(_prefs(user)))
    return ClaimGate(cap_reached=state.cap_reached, excluded_categories=frozenset(state.excluded_categories))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist", code=ErrorCode.USER_NOT_FOUND)
    return user


def get_managed_user(session: Session, actor: Actor, user_id: int) -> User:
    """The reviewer whose wellbeing ``actor`` may read and limit (moderators: volunteers only)."""
    user = get_user(session, user_id)
    if user.role not in MANAGED_REVIEWERS.get(actor.role, frozenset()):
        raise Forbidden(f"a {actor.role.value} cannot see or limit a {user.role.value}'s wellbeing",
                        code=ErrorCode.WELLBEING_FORBIDDEN, params={"role": user.role.value})
    return user


def update_own(
    session: Session,
    user: User,
    *,
    opt_in_categories: list[str] | None,
    break_every_minutes: int | None,
    daily_budgets: dict[str, int | None] | None,
    blur_text_categories: list[str] | None,
) -> WellbeingState:
    """A reviewer opts in to (or out of) the most distressing categories, sets the break interval,
    their own per-category daily limits (a None value removes one) and the categories whose text is blurred."""
    prefs = _prefs(user)
    # Validate everything before changing anything: bad input changes nothing.
    opt_in = None if opt_in_categories is None else _known_categories(opt_in_categories)
    blur = None if blur_text_categories is None else _known_categories(blur_text_categories)
    if daily_budgets is not None:
        _known_categories(list(daily_budgets))
    if opt_in is not None:
        prefs["opt_in"] = opt_in
    if blur is not None:
        prefs["blur_text"] = blur
    if daily_budgets is not None:
        merged = {**(prefs.get("daily_budgets") or {}), **daily_budgets}
        prefs["daily_budgets"] = {k: v for k, v in merged.items() if v is not None}
    if break_every_minutes is not None:
        prefs["break_every_minutes"] = break_every_minutes
    _save_prefs(user, prefs)
    session.flush()
    return wellbeing_for(session, user)


def update_for_user(
    session: Session,
    moderator: Actor,
    target: User,
    *,
    daily_cap: int | None,
    set_daily_cap: bool,
    budgets: dict[str, int | None] | None,
) -> WellbeingState:
    """A moderator sets a reviewer's daily cap (None removes it when ``set_daily_cap``) and budgets."""
    prefs = _prefs(target)
    changes: dict[str, Any] = {}
    if set_daily_cap:
        prefs["daily_cap"] = daily_cap
        changes["daily_cap"] = daily_cap
    if budgets is not None:
        _known_categories(list(budgets))
        for name, value in budgets.items():
            if value is not None and not 0 <= value <= MAX_DAILY_CAP:
                raise InvalidInput(f"budget for {name} must be between 0 and {MAX_DAILY_CAP}, got {value}")
        merged = {**(prefs.get("budgets") or {}), **budgets}
        prefs["budgets"] = {k: v for k, v in merged.items() if v is not None}
        changes["budgets"] = budgets
    _save_prefs(target, prefs)
    append_audit(
        session, actor_id=moderator.id, action="wellbeing.update", entity_type="user", entity_id=target.id,
        payload=changes,
    )
    session.flush()
    return wellbeing_for(session, target)
