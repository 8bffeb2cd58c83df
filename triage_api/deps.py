"""FastAPI dependencies as ``Annotated`` aliases (``SessionDep``, ``ContextDep``, ``CurrentUser``, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from saqshy.context import Context
from saqshy.db.models import Role
from saqshy.errors import ErrorCode, Forbidden
from saqshy.settings import Settings
from triage_api.services import auth, security
from triage_api.services.auth import Actor

# Dependencies that do no I/O are ``async def``: FastAPI runs a sync one on a worker thread, and
# each hop to a thread and back costs more than these functions themselves.


async def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(get_context)]


async def get_settings_dep(ctx: ContextDep) -> Settings:
    return ctx.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(ctx: ContextDep) -> AsyncIterator[Session]:
    """A session for the request: committed after the endpoint, rolled back on an error.

    Scoped to the endpoint function, so the commit happens before the response is sent: a client's
    next request (to any server process) sees what this one wrote, and a failed commit is an error.

    Creating a session opens no connection (it is checked out at the first statement), and closing
    one that holds none does no I/O, so only a commit or rollback with a transaction still open
    goes to a worker thread; most write endpoints commit themselves and skip it.
    """
    session = ctx.sessions()
    try:
        yield session
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            await run_in_threadpool(_commit_and_close, session)
    except BaseException:
        await run_in_threadpool(_rollback_and_close, session)
        raise
    finally:
        if session.in_transaction():  # pragma: no cover - only after a failed rollback
            await run_in_threadpool(session.close)
        else:
            session.close()


def _commit_and_close(session: Session) -> None:
    session.commit()
    session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# --- Authentication and roles -------------------------------------------------------------

# Declared as security schemes so the OpenAPI schema documents both ways in.
bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token from POST /auth/login")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


def client_ip(request: Request) -> str:
    """The caller's address, as the server (behind a proxy: uvicorn's --proxy-headers) sees it."""
    return request.client.host if request.client else "unknown"


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(
    request: Request, session: Session, settings: Settings, bearer: HTTPAuthorizationCredentials | None
) -> Actor:
    """The caller: a bearer token (API clients) or the session cookie (the browser UI, with CSRF)."""
    if bearer is not None:
        found = auth.resolve_token(session, bearer.credentials, auth.BEARER)
        if found is None:
            raise _unauthorised("invalid or expired token")
    else:
        cookie = request.cookies.get(settings.triage_session_cookie)
        if not cookie:
            raise _unauthorised(_NO_CREDENTIALS)
        found = auth.resolve_token(session, cookie, auth.SESSION)
        if found is None:
            raise _unauthorised("session expired; log in again")
        # Double submit: a cross-site form can send the cookie but cannot read the CSRF token.
        if request.method not in SAFE_METHODS and not security.same_secret(
            request.headers.get(CSRF_HEADER, ""), found[0].csrf_sha256
        ):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header", code=ErrorCode.CSRF_FAILED)
    record, user = found
    request.state.auth_token = record
    return user


_NO_CREDENTIALS = "not authenticated: send 'Authorization: Bearer <token>' or log in"


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """The caller (see ``authenticate``), resolved on a worker thread before the endpoint runs."""
    return authenticate(request, session, settings, bearer)


CurrentUser = Annotated[Actor, Depends(get_current_user)]


def _forbidden(roles: frozenset[Role], user: Actor) -> HTTPException:
    allowed = ", ".join(sorted(r.value for r in roles))
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                         detail=f"requires role {allowed}; you are {user.role.value}")


class RoleGuard:
    """A dependency that admits only ``roles``: the current user (``route_roles`` reads them, for docs and tests)."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __repr__(self) -> str:
        return f"require_roles({', '.join(sorted(r.value for r in self.roles))})"

    async def __call__(self, user: CurrentUser) -> Actor:
        if user.role not in self.roles:
            raise _forbidden(self.roles, user)
        return user


def require_roles(*roles: Role) -> RoleGuard:
    """``Depends(require_roles(Role.POLICE))``: the current user, if their role is one of ``roles``."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    return RoleGuard(frozenset(roles))


def route_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles a route admits (None: the route is public). Walks its whole dependency tree."""
    found: frozenset[Role] | None = None
    stack: list[Dependant] = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleGuard):
            found = dependant.call.roles if found is None else found & dependant.call.roles
        stack.extend(dependant.dependencies)
    return found
