"""Login (rate-limited), bearer tokens and browser sessions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from saqshy.db.models import AuthToken, LoginAttempt, Role, User
from saqshy.db.session import flushed_connection
from saqshy.errors import ErrorCode, InvalidInput, SaqshyError
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow
from triage_api.services import security
from triage_api.services.audit import append_audit

BEARER = "bearer"
SESSION = "session"


class RateLimited(SaqshyError):
    """Too many failed password checks from this address (HTTP 429, with Retry-After)."""

    default_code = ErrorCode.LOGIN_RATE_LIMITED

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, params={"retry_after": retry_after}, retry_after=retry_after)
        self.retry_after = retry_after


class WrongPassword(InvalidInput):
    """The current password given to change it is wrong (HTTP 422); counted like a failed login."""

    default_code = ErrorCode.WRONG_PASSWORD


class AuthenticationFailed(SaqshyError):
    """Wrong e-mail or password, or a disabled account (HTTP 401); the message never says which."""

    default_code = ErrorCode.LOGIN_FAILED


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class IssuedToken:
    token: str
    csrf_token: str | None
    record: AuthToken


def _failures(session: Session, since: datetime, *where: Any) -> tuple[int, datetime | None, datetime | None]:
    """Failed attempts matching ``where`` since ``since``: how many, the oldest and the latest."""
    count, oldest, latest = session.execute(
        select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(
            *where, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)
        )
    ).one()
    return int(count), None if oldest is None else as_utc(oldest), None if latest is None else as_utc(latest)


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def check_throttle(session: Session, settings: Settings, email: str, ip: str) -> None:
    """Raise RateLimited when this address may not try this account's password now.

    Guessing is limited per (account, address) and per address, so an attacker exhausts only
    their own address and never locks the owner out. Guesses at one account from many addresses
    slow each of those addresses down (a wait that doubles with every failure on the account);
    an address that has not failed on the account is never held back, so the right password
    from the owner's own address still works.
    """
    window = settings.triage_login_window_seconds
    now = utcnow()
    since = now - timedelta(seconds=window)
    limit = settings.triage_login_max_failures
    pair, pair_oldest, pair_latest = _failures(session, since, LoginAttempt.email == email, LoginAttempt.ip == ip)
    if pair >= limit and pair_oldest is not None:
        raise RateLimited("too many failed logins; try again later",
                          retry_after=_retry_after(pair_oldest + timedelta(seconds=window), now))
    # Per address the limit is wider: several people may share one NAT.
    address, address_oldest, _ = _failures(session, since, LoginAttempt.ip == ip)
    if address >= limit * 4 and address_oldest is not None:
        raise RateLimited("too many failed logins; try again later",
                          retry_after=_retry_after(address_oldest + timedelta(seconds=window), now))
    account, _, _ = _failures(session, since, LoginAttempt.email == email)
    if account >= limit and pair_latest is not None:
        delay = min(window, 2 ** min(account - limit, 20))
        if pair_latest + timedelta(seconds=delay) > now:
            raise RateLimited("too many failed logins; try again later",
                              retry_after=_retry_after(pair_latest + timedelta(seconds=delay), now))


def record_attempt(session: Session, settings: Settings, email: str, ip: str, *, succeeded: bool) -> None:
    session.add(LoginAttempt(email=email, ip=ip, succeeded=succeeded))
    if succeeded:
        # The owner's own typos from this address stop counting once they got it right.
        session.execute(delete(LoginAttempt).where(
            LoginAttempt.email == email, LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(False)))
    # Old attempts are useless after the window: trim them as we go.
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.at < utcnow() - timedelta(seconds=settings.triage_login_window_seconds * 2)
        )
    )


def authenticate(session: Session, settings: Settings, email: str, password: str, ip: str) -> User:
    """Check a password. Raises RateLimited before checking when too many recent attempts failed.

    The caller must commit even on AuthenticationFailed so the failed attempt is counted.
    """
    key = normalise_email(email)[:320]
    ip = ip[:64]
    check_throttle(session, settings, key, ip)
    user = session.execute(select(User).where(User.email == key)).scalar_one_or_none()
    if user is None:
        security.burn_password_check(settings, password)
        ok = False
    else:
        ok = security.verify_password(settings, user.password_hash, password) and user.is_active
    record_attempt(session, settings, key, ip, succeeded=ok)
    if not ok or user is None:
        raise AuthenticationFailed("wrong e-mail or password")
    if security.needs_rehash(settings, user.password_hash):
        user.password_hash = security.hash_password(settings, password)
    return user


def issue_token(session: Session, settings: Settings, user: User, kind: str = BEARER) -> IssuedToken:
    token = security.new_secret()
    csrf = security.new_secret() if kind == SESSION else None
    ttl = settings.triage_session_ttl_seconds if kind == SESSION else settings.triage_token_ttl_seconds
    record = AuthToken(
        token_sha256=security.sha256_hex(token),
        user_id=user.id,
        kind=kind,
        csrf_sha256=security.sha256_hex(csrf) if csrf else None,
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
    session.add(record)
    session.flush()
    return IssuedToken(token=token, csrf_token=csrf, record=record)


def login(
    session: Session, settings: Settings, email: str, password: str, ip: str, kind: str
) -> tuple[User, IssuedToken]:
    user = authenticate(session, settings, email, password, ip)
    issued = issue_token(session, settings, user, kind)
    append_audit(session, actor_id=user.id, action="auth.login", entity_type="user", entity_id=user.id,
                 payload={"kind": kind})
    return user, issued


class ResolvedToken(NamedTuple):
    """What a request needs of its token (the row itself is loaded only to revoke it)."""

    id: int
    expires_at: datetime
    revoked_at: datetime | None
    csrf_sha256: str | None


class Actor(Protocol):
    """What services read of the person acting: a request's ``TokenUser``, or a ``User`` row.

    A service that changes the account loads the ``User`` itself.
    """

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> Role: ...
    @property
    def preferences(self) -> Mapping[str, Any] | None: ...


class TokenUser(NamedTuple):
    """The caller as read with their token: one row of columns, no ORM entity to build per request."""

    id: int
    role: Role
    preferences: Mapping[str, Any] | None


# Built once: every request runs it, and SQLAlchemy then reuses the statement's cache key too.
# Columns, not entities: no ORM object to build on every request.
_TOKEN_AND_ACTOR = (
    select(AuthToken.id, AuthToken.expires_at, AuthToken.revoked_at, AuthToken.csrf_sha256,
           User.id, User.role, User.preferences, User.is_active)
    .join(User, User.id == AuthToken.user_id)
    .where(AuthToken.token_sha256 == bindparam("token_sha256"), AuthToken.kind == bindparam("kind"))
)


def resolve_token(session: Session, token: str, kind: str) -> tuple[ResolvedToken, TokenUser] | None:
    """The live token and its active user, or None (unknown, expired, revoked, or disabled user)."""
    # A Core read of columns: the ORM's execution layer has nothing to add here.
    row = flushed_connection(session).execute(
        _TOKEN_AND_ACTOR, {"token_sha256": security.sha256_hex(token), "kind": kind}
    ).one_or_none()
    if row is None:
        return None
    record = ResolvedToken(*row[:4])
    if not _live(record) or not row[7]:
        return None
    return record, TokenUser(row[4], row[5], row[6])


def _live(record: ResolvedToken) -> bool:
    return record.revoked_at is None and as_utc(record.expires_at) > utcnow()


def revoke_token(session: Session, record: AuthToken) -> None:
    record.revoked_at = utcnow()


def revoke_all_for_user(session: Session, user_id: int, *, keep_token_id: int | None = None) -> None:
    """Revoke every live token and session of the user (but ``keep_token_id``, the caller's own)."""
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None), AuthToken.id != (keep_token_id or 0))
        .values(revoked_at=utcnow())
    )
