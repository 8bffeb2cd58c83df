"""Reviewer wellbeing: daily cap (set by moderators), exposure budget per category per shift,
break reminders and opt-in for the most distressing categories. The rules and the claim gate the
queue applies live in :mod:`triage_api.services.wellbeing`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from saqshy.db.models import Role
from triage_api.deps import SessionDep, require_roles
from triage_api.schemas.common import IdPath
from triage_api.schemas.wellbeing import WellbeingModeratorUpdate, WellbeingPublic, WellbeingSelfUpdate
from triage_api.services import users
from triage_api.services import wellbeing as service
from triage_api.services.auth import Actor

# Re-exported: the rules are the service's; older callers import them from here.
from triage_api.services.wellbeing import DISTRESSING_BUDGETS, ClaimGate, claim_gate, wellbeing_for  # noqa: F401

router = APIRouter(prefix="/wellbeing", tags=["wellbeing"])

ModeratorUser = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN))]
ReviewerUser = Annotated[
    Actor, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR, Role.ADMIN, Role.POLICE, Role.ML_ENGINEER))
]


def _public(state: service.WellbeingState) -> WellbeingPublic:
    return WellbeingPublic.model_validate(state, from_attributes=True)


@router.get("/me", response_model=WellbeingPublic)
def read_my_wellbeing(session: SessionDep, user: ReviewerUser) -> WellbeingPublic:
    """Your daily count and cap, exposure per category this shift, opt-ins and break interval."""
    return _public(service.wellbeing_for(session, user))


@router.put("/me", response_model=WellbeingPublic)
def update_my_wellbeing(body: WellbeingSelfUpdate, session: SessionDep, user: ReviewerUser) -> WellbeingPublic:
    """Opt in to (or out of) the most distressing categories; set the break reminder interval, your own
    per-category daily limits and the categories whose text is blurred until revealed."""
    account = users.get_user(session, user.id)
    return _public(service.update_own(
        session, account, opt_in_categories=body.opt_in_categories, break_every_minutes=body.break_every_minutes,
        daily_budgets=body.daily_budgets, blur_text_categories=body.blur_text_categories,
    ))


@router.get("/users/{user_id}", response_model=WellbeingPublic)
def read_user_wellbeing(user_id: IdPath, session: SessionDep, moderator: ModeratorUser) -> WellbeingPublic:
    """A reviewer's wellbeing state (moderators: volunteers; admins: volunteers and moderators)."""
    return _public(service.wellbeing_for(session, service.get_managed_user(session, moderator, user_id)))


@router.put("/users/{user_id}", response_model=WellbeingPublic)
def update_user_wellbeing(
    user_id: IdPath, body: WellbeingModeratorUpdate, session: SessionDep, moderator: ModeratorUser
) -> WellbeingPublic:
    """Set a reviewer's daily cap (null removes it) and per-category shift budgets (moderators: volunteers;
    admins: volunteers and moderators)."""
    target = service.get_managed_user(session, moderator, user_id)
    return _public(service.update_for_user(
        session, moderator, target, daily_cap=body.daily_cap,
        set_daily_cap="daily_cap" in body.model_fields_set, budgets=body.budgets,
    ))
