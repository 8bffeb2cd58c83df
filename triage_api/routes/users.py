"""Accounts: your own profile; moderators and admins manage people and see volunteers' accuracy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from saqshy.db.models import Role, User
from triage_api.deps import SessionDep, SettingsDep, client_ip, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page
from triage_api.schemas.users import (
    MePublic,
    MeUpdate,
    PasswordChange,
    UserCreate,
    UserPublic,
    UserUpdate,
    UserWithAccuracy,
)
from triage_api.services import auth, users
from triage_api.services.auth import Actor

router = APIRouter(prefix="/users", tags=["users"])

Manager = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN))]
Admin = Annotated[Actor, Depends(require_roles(Role.ADMIN))]
AnyRole = Annotated[Actor, Depends(require_roles(*Role))]


def _with_accuracy(user: User, accuracy: users.Accuracy | None) -> UserWithAccuracy:
    accuracy = accuracy or users.Accuracy(0, 0)
    return UserWithAccuracy.model_validate(user).model_copy(
        update={"gold_votes": accuracy.gold_votes, "gold_correct": accuracy.gold_correct,
                "accuracy": accuracy.accuracy}
    )


@router.get("/me", response_model=MePublic)
def read_me(user: AnyRole, session: SessionDep) -> MePublic:
    """Every role: your account, your accuracy on gold tasks (``accuracy`` null before any) and the
    roles you may grant."""
    mine = _with_accuracy(users.get_user(session, user.id), users.accuracy_of(session, user.id))
    return MePublic(**mine.model_dump(), grantable_roles=users.grantable_roles(user.role))


@router.patch("/me", response_model=UserPublic)
def update_me(body: MeUpdate, user: AnyRole, session: SessionDep) -> User:
    """Every role: display name, interface language, UI preferences."""
    me = users.get_user(session, user.id)
    if body.display_name is not None:
        me.display_name = users.clean_display_name(body.display_name) or me.display_name
    if body.locale is not None:
        me.locale = body.locale
    if body.preferences is not None:
        users.set_own_preferences(me, body.preferences)
    return me


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT,
             responses={429: {"description": "Too many wrong current passwords; see Retry-After."}})
def change_my_password(
    request: Request, body: PasswordChange, user: AnyRole, session: SessionDep, settings: SettingsDep
) -> None:
    """Every role. Signs out every other session and token of yours; wrong current passwords are rate-limited."""
    try:
        users.change_password(session, settings, users.get_user(session, user.id), body.current_password,
                              body.new_password, ip=client_ip(request), keep_token_id=request.state.auth_token.id)
    except auth.WrongPassword:
        # Commit the failed guess so it counts towards the rate limit, then answer the error.
        session.commit()
        raise


@router.get("", response_model=Page[UserWithAccuracy])
def list_users(
    user: Manager, session: SessionDep, offset: OffsetParam = 0, limit: LimitParam = 50,
    role: Annotated[Role | None, Query()] = None,
) -> Page[UserWithAccuracy]:
    """Moderator, admin: people with their gold-task accuracy."""
    rows, total = users.list_users(session, role=role, offset=offset, limit=limit)
    acc = users.accuracies(session, [u.id for u in rows])
    return Page(items=[_with_accuracy(u, acc.get(u.id)) for u in rows], total=total, offset=offset, limit=limit)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, admin: Admin, session: SessionDep, settings: SettingsDep) -> User:
    """Admin: create an account directly (everyone else joins by invite)."""
    return users.create_user(session, settings, email=body.email, password=body.password, role=body.role,
                             display_name=body.display_name, actor_id=admin.id)


@router.get("/{user_id}", response_model=UserWithAccuracy)
def read_user(user_id: IdPath, user: Manager, session: SessionDep) -> UserWithAccuracy:
    """Moderator, admin."""
    target = users.get_user(session, user_id)
    return _with_accuracy(target, users.accuracy_of(session, target.id))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: IdPath, body: UserUpdate, user: Manager, session: SessionDep) -> User:
    """Moderator (volunteers only), admin: change role, disable or enable an account."""
    return users.update_user(session, user, user_id, role=body.role, is_active=body.is_active,
                             display_name=body.display_name)
