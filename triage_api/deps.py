"""FastAPI dependencies as ``Annotated`` aliases (``SessionDep``, ``ContextDep``, ``CurrentUser``, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from saqshy.context import Context
from saqshy.db.models import Role, User
from saqshy.errors import ErrorCode, Forbidden
from saqshy.settings import Settings
from triage_api.services import auth
from triage_api.services.auth import Actor, Principal, ResolvedToken

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

T = TypeVar("T")
ActorT = TypeVar("ActorT", User, Principal)


class SessionRunner:
    """Runs ``work(session)`` in a session of its own, which ``work`` commits; rolled back if it raises.

    For the review loop's hot endpoints (claim, vote), declared ``async def``. On PostgreSQL the
    work runs on the event loop and its statements are awaited (``AsyncSession.run_sync``:
    SQLAlchemy's greenlet bridge over psycopg's async connections), so a request makes no hop to a
    worker thread at all; a sync endpoint makes one there and back, and under load each hop costs
    more than the endpoint's own statements (GIL hand-offs among the worker threads). On SQLite
    (no async driver installed) the work runs on a worker thread, as a sync endpoint would.
    The app's lifespan builds one (``app.state.session_runner``) and closes it.
    """

    def __init__(
        self, sessions: sessionmaker[Session], async_sessions: async_sessionmaker[AsyncSession] | None
    ) -> None:
        self.sessions = sessions
        self.async_sessions = async_sessions

    async def run(self, work: Callable[[Session], T]) -> T:
        if self.async_sessions is None:
            return await run_in_threadpool(self._run_sync, work)
        async with self.async_sessions() as session:
            try:
                return await session.run_sync(work)
            except BaseException:
                await session.rollback()
                raise

    def _run_sync(self, work: Callable[[Session], T]) -> T:
        with self.sessions() as session:
            try:
                return work(session)
            except BaseException:
                session.rollback()
                raise

    @property
    def async_engine(self) -> AsyncEngine | None:
        return self.async_sessions.kw["bind"] if self.async_sessions is not None else None

    async def aclose(self) -> None:
        if self.async_engine is not None:
            await self.async_engine.dispose()


async def get_session_runner(request: Request) -> SessionRunner:
    runner: SessionRunner = request.app.state.session_runner
    return runner


SessionRunnerDep = Annotated[SessionRunner, Depends(get_session_runner)]


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
) -> User:
    """The caller: a bearer token (API clients) or the session cookie (the browser UI, with CSRF)."""
    return _authenticate(request, session, settings, bearer, auth.resolve_token)


def authenticate_principal(
    request: Request, session: Session, settings: Settings, bearer: HTTPAuthorizationCredentials | None
) -> Principal:
    """``authenticate``, with the caller read as a ``Principal`` (the hot endpoints: ``Caller``)."""
    return _authenticate(request, session, settings, bearer, auth.resolve_principal)


def _authenticate(
    request: Request, session: Session, settings: Settings, bearer: HTTPAuthorizationCredentials | None,
    resolve: Callable[[Session, str, str], tuple[ResolvedToken, ActorT] | None],
) -> ActorT:
    from triage_api.services.security import same_secret

    if bearer is not None:
        found = resolve(session, bearer.credentials, auth.BEARER)
        if found is None:
            raise _unauthorised("invalid or expired token")
    else:
        cookie = request.cookies.get(settings.triage_session_cookie)
        if not cookie:
            raise _unauthorised(_NO_CREDENTIALS)
        found = resolve(session, cookie, auth.SESSION)
        if found is None:
            raise _unauthorised("session expired; log in again")
        # Double submit: a cross-site form can send the cookie but cannot read the CSRF token.
        if request.method not in SAFE_METHODS and not same_secret(
            request.headers.get(CSRF_HEADER, ""), found[0].csrf_sha256
        ):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header", code=ErrorCode.CSRF_FAILED)
    record, actor = found
    request.state.auth_token = record
    return actor


_NO_CREDENTIALS = "not authenticated: send 'Authorization: Bearer <token>' or log in"


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    """The caller (see ``authenticate``), resolved on a worker thread before the endpoint runs."""
    return authenticate(request, session, settings, bearer)


CurrentUser = Annotated[User, Depends(get_current_user)]


def _forbidden(roles: frozenset[Role], user: Actor) -> HTTPException:
    allowed = ", ".join(sorted(r.value for r in roles))
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                         detail=f"requires role {allowed}; you are {user.role.value}")


class _Guard:
    """A dependency that admits only ``roles`` (``route_roles`` reads them, for docs and tests)."""

    factory = "require_roles"

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __repr__(self) -> str:
        return f"{self.factory}({', '.join(sorted(r.value for r in self.roles))})"


class RoleGuard(_Guard):
    """A dependency that lets only the given roles through: the current user."""

    async def __call__(self, user: CurrentUser) -> User:
        if user.role not in self.roles:
            raise _forbidden(self.roles, user)
        return user


class Caller:
    """A request's credentials, checked inside the endpoint's own session: ``caller.user(session)``.

    ``CurrentUser`` resolves the token on a worker thread of its own before the endpoint starts; the
    review loop's two hot endpoints (claim, vote) use this instead, so the token's query runs in the
    endpoint's session (``SessionRunner``: on PostgreSQL, on the event loop, with no thread hop at
    all). (They then report a malformed body (422) before a bad token (401); missing credentials
    are still a 401 before anything else.)
    """

    def __init__(self, roles: frozenset[Role], request: Request, settings: Settings,
                 bearer: HTTPAuthorizationCredentials | None) -> None:
        self.roles = roles
        self.request = request
        self.settings = settings
        self.bearer = bearer

    def user(self, session: Session) -> Principal:
        """The authenticated user (read-only), if their role is allowed (401 or 403 otherwise)."""
        user = authenticate_principal(self.request, session, self.settings, self.bearer)
        if user.role not in self.roles:
            raise _forbidden(self.roles, user)
        return user


class DeferredRoleGuard(_Guard):
    """Like ``RoleGuard``, but it hands the endpoint a ``Caller`` to resolve in its own session."""

    factory = "caller_with_roles"

    async def __call__(
        self, request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> Caller:
        # The settings straight from the app's context, not as a dependency: one dependency fewer
        # for FastAPI to solve on the two hottest endpoints.
        settings: Settings = request.app.state.context.settings
        if bearer is None and not request.cookies.get(settings.triage_session_cookie):
            raise _unauthorised(_NO_CREDENTIALS)
        return Caller(self.roles, request, settings, bearer)


def caller_with_roles(*roles: Role) -> DeferredRoleGuard:
    """``Depends(caller_with_roles(Role.VOLUNTEER))``: a ``Caller`` the endpoint resolves itself."""
    if not roles:
        raise ValueError("caller_with_roles needs at least one role")
    return DeferredRoleGuard(frozenset(roles))


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
        if isinstance(dependant.call, _Guard):
            found = dependant.call.roles if found is None else found & dependant.call.roles
        stack.extend(dependant.dependencies)
    return found
