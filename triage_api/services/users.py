"""People: accounts, invitations, roles, and each volunteer's accuracy on gold tasks."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saqshy.db.models import Invite, ReviewTask, Role, User, Vote
from saqshy.errors import Conflict, ErrorCode, Forbidden, InvalidInput, InvalidTransition, NotFound
from saqshy.settings import Settings
from saqshy.text import UnsafeText, clean_text
from saqshy.timeutil import as_utc, utcnow
from triage_api.services import auth, security
from triage_api.services.audit import append_audit
from triage_api.services.auth import Actor, normalise_email, revoke_all_for_user
from triage_api.services.password_policy import check_password
from triage_api.services.queue import SKIPPED_KEY
from triage_api.services.wellbeing import PREFERENCES_KEY as WELLBEING_KEY

# Keys of ``User.preferences`` the server owns: the wellbeing settings (a moderator's daily cap and
# budgets) and the skip memory. A reviewer's own PATCH /users/me neither sets nor erases them.
SERVER_PREFERENCE_KEYS = (WELLBEING_KEY, SKIPPED_KEY)

# Deliberately loose (one @, a dot in the domain, no spaces): the invite proves the address works.
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

# Who may invite (or grant) which roles: moderators manage volunteers only.
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset(Role),
    Role.MODERATOR: frozenset({Role.VOLUNTEER}),
}


def grantable_roles(role: Role) -> list[Role]:
    """The roles someone with ``role`` may invite or grant, in the enum's order."""
    allowed = GRANTABLE.get(role, frozenset())
    return [r for r in Role if r in allowed]


def validate_email(email: str) -> str:
    try:
        key = normalise_email(clean_text(email))
    except UnsafeText:
        key = ""
    if len(key) > 320 or not _EMAIL_RE.match(key):
        raise InvalidInput(f"{email[:80]!r} is not a valid e-mail address", code=ErrorCode.INVALID_EMAIL)
    return key


def clean_display_name(display_name: str) -> str:
    """The name as colleagues will see it: trimmed, NFKC, no invisible or direction-changing characters."""
    try:
        return clean_text(display_name)[:200]
    except UnsafeText as exc:
        raise InvalidInput(f"display name {exc}", code=ErrorCode.DISPLAY_NAME_INVALID) from None


def _new_pseudonym() -> str:
    return f"V-{secrets.token_hex(5).upper()}"


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", code=ErrorCode.USER_NOT_FOUND)
    return user


def create_user(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    locale: str = "ru",
    actor_id: int | None = None,
) -> User:
    key = validate_email(email)
    name = clean_display_name(display_name or "") or key.split("@", 1)[0]
    check_password(password, min_chars=settings.triage_password_min_chars, email=key, display_name=name)
    if session.execute(select(User.id).where(User.email == key)).first() is not None:
        raise Conflict(f"a user with e-mail {key} already exists", code=ErrorCode.EMAIL_TAKEN)
    user = User(
        email=key,
        display_name=name,
        pseudonym=_new_pseudonym(),
        password_hash=security.hash_password(settings, password),
        role=role,
        locale=locale,
        preferences={},
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a user with e-mail {key} already exists", code=ErrorCode.EMAIL_TAKEN) from None
    append_audit(session, actor_id=actor_id, action="user.create", entity_type="user", entity_id=user.id,
                 payload={"email": key, "role": role.value})
    return user


def update_user(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
) -> User:
    user = get_user(session, user_id)
    grantable = GRANTABLE.get(actor.role, frozenset())
    if user.id != actor.id and user.role not in grantable:
        raise Forbidden(f"a {actor.role.value} cannot change a {user.role.value}'s account",
                        code=ErrorCode.ACCOUNT_CHANGE_FORBIDDEN, params={"role": user.role.value})
    changes: dict[str, object] = {}
    if role is not None and role != user.role:
        if role not in grantable or user.id == actor.id:
            raise Forbidden(f"a {actor.role.value} cannot grant the role {role.value}",
                            code=ErrorCode.ROLE_GRANT_FORBIDDEN, params={"role": role.value})
        changes["role"] = [user.role.value, role.value]
        user.role = role
    if is_active is not None and is_active != user.is_active:
        if user.id == actor.id:
            raise InvalidTransition("you cannot disable your own account", code=ErrorCode.SELF_DISABLE)
        changes["is_active"] = [user.is_active, is_active]
        user.is_active = is_active
        if not is_active:
            revoke_all_for_user(session, user.id)
    name = clean_display_name(display_name) if display_name is not None else ""
    if name and name != user.display_name:
        changes["display_name"] = True
        user.display_name = name
    if changes:
        append_audit(session, actor_id=actor.id, action="user.update", entity_type="user", entity_id=user.id,
                     payload=changes)
    return user


def change_password(
    session: Session, settings: Settings, user: User, current: str, new: str, *, ip: str, keep_token_id: int | None
) -> None:
    """Replace the password and sign out every other session and token of the user.

    Guesses of the current password count like failed logins (``auth.check_throttle``); on
    ``auth.WrongPassword`` the caller commits, so that the failed guess is counted.
    """
    ip = ip[:64]
    auth.check_throttle(session, settings, user.email, ip)
    if not security.verify_password(settings, user.password_hash, current):
        auth.record_attempt(session, settings, user.email, ip, succeeded=False)
        raise auth.WrongPassword("the current password is wrong")
    check_password(new, min_chars=settings.triage_password_min_chars, email=user.email,
                   display_name=user.display_name)
    user.password_hash = security.hash_password(settings, new)
    revoke_all_for_user(session, user.id, keep_token_id=keep_token_id)
    append_audit(session, actor_id=user.id, action="user.password", entity_type="user", entity_id=user.id,
                 payload={"other_sessions_revoked": True})


@dataclass
class Accuracy:
    gold_votes: int
    gold_correct: int

    @property
    def accuracy(self) -> float | None:
        return None if self.gold_votes == 0 else self.gold_correct / self.gold_votes

    @property
    def smoothed(self) -> float:
        # Laplace prior: a newcomer starts at 0.5 instead of 0 or 1 after a single gold task.
        return (self.gold_correct + 1) / (self.gold_votes + 2)


def _correct_expr():  # type: ignore[no-untyped-def]
    return case(
        (
            (Vote.verdict == ReviewTask.gold_verdict)
            & ((ReviewTask.gold_category.is_(None)) | (Vote.category == ReviewTask.gold_category)),
            1,
        ),
        else_=0,
    )


def accuracies(session: Session, user_ids: list[int] | None = None) -> dict[int, Accuracy]:
    query = (
        select(Vote.user_id, func.count(), func.sum(_correct_expr()))
        .join(ReviewTask, ReviewTask.id == Vote.task_id)
        .where(ReviewTask.is_gold.is_(True), Vote.is_moderator_decision.is_(False))
        .group_by(Vote.user_id)
    )
    if user_ids is not None:
        query = query.where(Vote.user_id.in_(user_ids))
    return {uid: Accuracy(int(n), int(ok or 0)) for uid, n, ok in session.execute(query)}


def accuracy_of(session: Session, user_id: int) -> Accuracy:
    return accuracies(session, [user_id]).get(user_id, Accuracy(0, 0))


def list_users(
    session: Session, *, role: Role | None, offset: int, limit: int
) -> tuple[list[User], int]:
    query = select(User)
    count = select(func.count()).select_from(User)
    if role is not None:
        query = query.where(User.role == role)
        count = count.where(User.role == role)
    users = list(session.execute(query.order_by(User.id).offset(offset).limit(limit)).scalars())
    return users, int(session.execute(count).scalar_one())


# --- Invitations ----------------------------------------------------------------------------


def create_invite(
    session: Session, settings: Settings, actor: Actor, *, role: Role, email: str | None, ttl_hours: int | None
) -> tuple[Invite, str]:
    """A one-time invite; the token is returned once and only its hash is stored."""
    if role not in GRANTABLE.get(actor.role, frozenset()):
        raise Forbidden(f"a {actor.role.value} cannot invite a {role.value}", code=ErrorCode.ROLE_GRANT_FORBIDDEN,
                        params={"role": role.value})
    key = validate_email(email) if email else None
    hours = ttl_hours or settings.triage_invite_ttl_hours
    if not 1 <= hours <= settings.triage_invite_ttl_hours * 10:
        raise InvalidInput(f"ttl_hours must be between 1 and {settings.triage_invite_ttl_hours * 10}",
                           code=ErrorCode.INVITE_TTL, params={"max": settings.triage_invite_ttl_hours * 10})
    token = security.new_secret()
    invite = Invite(
        token_sha256=security.sha256_hex(token),
        email=key,
        role=role,
        created_by_id=actor.id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(invite)
    session.flush()
    append_audit(session, actor_id=actor.id, action="invite.create", entity_type="invite", entity_id=invite.id,
                 payload={"role": role.value, "email": key})
    return invite, token


def _live_invite(session: Session, token: str, *, lock: bool = False) -> Invite:
    query = select(Invite).where(Invite.token_sha256 == security.sha256_hex(token))
    if lock:
        query = query.with_for_update()
    invite = session.execute(query).scalar_one_or_none()
    if invite is None:
        raise NotFound("unknown invite", code=ErrorCode.INVITE_UNKNOWN)
    if invite.used_at is not None:
        raise InvalidTransition("this invite was already used", code=ErrorCode.INVITE_USED)
    if as_utc(invite.expires_at) <= utcnow():
        raise InvalidTransition("this invite has expired", code=ErrorCode.INVITE_EXPIRED)
    return invite


def check_invite(session: Session, token: str) -> Invite:
    return _live_invite(session, token)


def accept_invite(
    session: Session, settings: Settings, *, token: str, email: str, password: str, display_name: str | None,
    locale: str = "ru",
) -> User:
    invite = _live_invite(session, token, lock=True)
    if invite.email and validate_email(email) != invite.email:
        raise InvalidInput("this invite is for another e-mail address", code=ErrorCode.INVITE_OTHER_EMAIL)
    user = create_user(session, settings, email=email, password=password, role=invite.role,
                       display_name=display_name, locale=locale, actor_id=invite.created_by_id)
    invite.used_at = utcnow()
    invite.used_by_id = user.id
    append_audit(session, actor_id=user.id, action="invite.accept", entity_type="invite", entity_id=invite.id,
                 payload={"user_id": user.id, "role": invite.role.value})
    return user


def revoke_invite(session: Session, actor: Actor, invite_id: int) -> None:
    invite = session.get(Invite, invite_id)
    if invite is None:
        raise NotFound(f"invite {invite_id} not found")
    if actor.role != Role.ADMIN and invite.created_by_id != actor.id:
        raise Forbidden("you can revoke only your own invites", code=ErrorCode.INVITE_REVOKE_FORBIDDEN)
    if invite.used_at is not None:
        raise InvalidTransition("this invite was already used", code=ErrorCode.INVITE_USED)
    invite.expires_at = utcnow()
    append_audit(session, actor_id=actor.id, action="invite.revoke", entity_type="invite", entity_id=invite.id,
                 payload={})


def list_invites(session: Session, actor: Actor, *, offset: int, limit: int) -> tuple[list[Invite], int]:
    query = select(Invite)
    count = select(func.count()).select_from(Invite)
    if actor.role != Role.ADMIN:
        query = query.where(Invite.created_by_id == actor.id)
        count = count.where(Invite.created_by_id == actor.id)
    rows = list(session.execute(query.order_by(Invite.id.desc()).offset(offset).limit(limit)).scalars())
    return rows, int(session.execute(count).scalar_one())


def set_own_preferences(user: User, preferences: dict[str, Any]) -> None:
    """Replace the user's UI preferences, keeping the keys the server owns."""
    owned = [key for key in SERVER_PREFERENCE_KEYS if key in preferences]
    if owned:
        raise InvalidInput(f"preferences.{owned[0]} is set through /wellbeing and the queue, not here")
    if len(str(preferences)) > 10_000:
        raise InvalidInput("preferences are limited to 10,000 characters")
    current = user.preferences or {}
    user.preferences = {**preferences, **{key: current[key] for key in SERVER_PREFERENCE_KEYS if key in current}}
