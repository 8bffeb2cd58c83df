"""Log in and out: bearer tokens for API clients, an HTTP-only session cookie for the browser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi import Path as PathParam

from saqshy.db.models import AuthToken, Role, User
from saqshy.settings import Settings
from triage_api.deps import SessionDep, SettingsDep, client_ip, require_roles
from triage_api.schemas.auth import InviteInfo, LoginRequest, RegisterRequest, SessionPublic, TokenPublic
from triage_api.schemas.users import UserPublic
from triage_api.services import auth, users
from triage_api.services.auth import Actor

router = APIRouter(prefix="/auth", tags=["auth"])

AnyRole = Annotated[Actor, Depends(require_roles(*Role))]

RATE_LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many failed logins; see Retry-After."}}
BAD_LOGIN: dict[int | str, dict[str, Any]] = {401: {"description": "Wrong e-mail or password."}}


def _login(request: Request, session: SessionDep, settings: Settings, body: LoginRequest, kind: str
           ) -> tuple[User, auth.IssuedToken]:
    try:
        return auth.login(session, settings, body.email, body.password, client_ip(request), kind)
    except auth.AuthenticationFailed:
        # Commit the failed attempt so it counts towards the rate limit, then answer 401.
        session.commit()
        raise


@router.post("/login", response_model=TokenPublic, responses={**BAD_LOGIN, **RATE_LIMITED})
def login(request: Request, body: LoginRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Public. Exchange e-mail and password for a bearer token (rate-limited per e-mail and address)."""
    user, issued = _login(request, session, settings, body, auth.BEARER)
    return TokenPublic(access_token=issued.token, expires_at=issued.record.expires_at,
                       user=UserPublic.model_validate(user))


@router.post("/session", response_model=SessionPublic, responses={**BAD_LOGIN, **RATE_LIMITED})
def open_session(
    request: Request, response: Response, body: LoginRequest, session: SessionDep, settings: SettingsDep
) -> SessionPublic:
    """Public. Browser login: sets the HTTP-only session cookie; send ``csrf_token`` as X-CSRF-Token."""
    user, issued = _login(request, session, settings, body, auth.SESSION)
    assert issued.csrf_token is not None
    max_age = settings.triage_session_ttl_seconds
    response.set_cookie(settings.triage_session_cookie, issued.token, max_age=max_age, httponly=True,
                        secure=settings.triage_cookie_secure, samesite="strict", path="/")
    # Readable by the page's script (not HTTP-only) so it can echo it; useless to another site.
    response.set_cookie(settings.triage_csrf_cookie, issued.csrf_token, max_age=max_age, httponly=False,
                        secure=settings.triage_cookie_secure, samesite="strict", path="/")
    return SessionPublic(csrf_token=issued.csrf_token, expires_at=issued.record.expires_at,
                         user=UserPublic.model_validate(user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, user: AnyRole, session: SessionDep, settings: SettingsDep) -> Response:
    """Any signed-in user. Revokes the token or session used for this request."""
    record = session.get(AuthToken, request.state.auth_token.id)
    if record is not None:
        auth.revoke_token(session, record)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(settings.triage_session_cookie, path="/")
    response.delete_cookie(settings.triage_csrf_cookie, path="/")
    return response


@router.get("/me", response_model=UserPublic)
def me(user: AnyRole, session: SessionDep) -> User:
    """Any signed-in user."""
    return users.get_user(session, user.id)


@router.get("/invites/{token}", response_model=InviteInfo)
def invite_info(
    token: Annotated[str, PathParam(min_length=1, max_length=200)], session: SessionDep, settings: SettingsDep
) -> InviteInfo:
    """Public. What an invite link grants (404 unknown, 409 used or expired), and the password rule."""
    invite = users.check_invite(session, token)
    return InviteInfo(role=invite.role, email=invite.email, expires_at=invite.expires_at,
                      password_min_chars=settings.triage_password_min_chars)


@router.post("/register", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def register(body: RegisterRequest, session: SessionDep, settings: SettingsDep) -> User:
    """Public, with a one-time invite token: create the account the invite grants."""
    return users.accept_invite(session, settings, token=body.token, email=body.email, password=body.password,
                               display_name=body.display_name, locale=body.locale)
