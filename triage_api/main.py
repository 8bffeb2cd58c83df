"""The FastAPI application factory; `saqshy serve` runs it tuned for serving (``triage_api.serving``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import review_ui
import saqshy
from saqshy.context import Context, build_context
from saqshy.errors import ErrorCode
from saqshy.scheduler import Scheduler
from saqshy.settings import Settings, get_settings
from triage_api import api_docs
from triage_api.deps import route_roles
from triage_api.exception_handlers import error_body, register_exception_handlers
from triage_api.observability import RequestObservability
from triage_api.routes import (
    audit,
    auth,
    cases,
    health,
    invites,
    media,
    metrics,
    models,
    moderation,
    search,
    sources,
    stats,
    tasks,
    users,
    votes,
    wellbeing,
)
from triage_api.services import security
from triage_api.services.audit import AuditSequencer

logger = logging.getLogger(__name__)


# The review loop's routers first: a request is matched against the routers in this order, and
# claims and votes are most of the traffic (no two routers share a path, so order is only speed).
ROUTERS = (tasks, votes, health, auth, users, invites, moderation, audit, metrics,
           cases, search, stats, sources, models, wellbeing, media)

MAX_BODY_BYTES = 1024 * 1024


class BodySizeLimit:
    """Answers 413 to a request body over the limit, before any of it reaches a route."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            content=error_body(f"request body over {self.max_bytes} bytes", ErrorCode.TOO_LARGE,
                               {"max": self.max_bytes}, error="PayloadTooLarge"),
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


# AnyIO runs sync endpoints and dependencies on 40 worker threads. A request holding a row lock
# until its session dependency commits needs a free thread for that commit; if every thread were
# taken by requests waiting for that lock, none would be left. Capping requests in flight below
# the thread count always leaves one (``Settings.triage_max_in_flight``, at most 32).


class InFlightLimit:
    """Queues requests beyond ``limit`` on the event loop instead of on worker threads."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)


def _include(app: FastAPI, router: APIRouter) -> None:
    """Include a router; every endpoint states its roles in the OpenAPI schema (``x-roles``)."""
    # Done on the router's own routes, before inclusion: included routes are copied from them.
    for context in iter_route_contexts(router.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            roles = route_roles(route)
            extra = dict(route.openapi_extra or {})
            extra["x-roles"] = sorted(r.value for r in roles) if roles is not None else ["public"]
            route.openapi_extra = extra
    app.include_router(router)


ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "properties": {
        "detail": {"type": "string"},
        "error": {"type": "string"},
        "code": {"type": "string", "description": "Stable code (saqshy.errors.ErrorCode) clients translate"},
        "params": {"type": "object", "description": "Values to interpolate into the translated message"},
    },
    "required": ["detail"],
}
ERROR_STATUSES = {
    "401": "Not authenticated, or the token or session expired.",
    "403": "Your role may not do this (or the CSRF header is missing).",
    "404": "No such resource.",
    "409": "A state clash: a double vote, a lost lease, a closed task, a used invite.",
    "413": "The request body is too large.",
    "503": "The database (or another engine) is unavailable for a moment: nothing was changed; retry after "
           "the Retry-After seconds.",
}


def _document_errors(app: FastAPI) -> None:
    """The schema documents the error answers every operation can give, in their real shapes.

    422 comes in two shapes: FastAPI's list of validation errors, and a domain error (a known
    field with a value the domain rejects, e.g. an unknown category) with a message.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                public = operation.get("x-roles") == ["public"]
                for code, description in ERROR_STATUSES.items():
                    if public and code in ("401", "403"):
                        continue
                    responses.setdefault(code, {"description": description})
                    responses[code]["content"] = error
                validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
                shapes = [validation, {"$ref": "#/components/schemas/Error"}] if validation else [
                    {"$ref": "#/components/schemas/Error"}]
                responses["422"] = {"description": "Invalid input: nothing was changed.",
                                    "content": {"application/json": {"schema": {"anyOf": shapes}}}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """Build the app. A given context is used as is (tests); otherwise one is built at start-up.

    Process tuning (collector, GIL switch interval, pool warm-up) is ``saqshy serve``'s, in
    ``triage_api.serving``. The in-flight limit is not process tuning but this app's own
    middleware: every server of the app needs it to never run out of threads for a commit.
    """
    settings = settings or (context.settings if context is not None else get_settings())
    app = FastAPI(
        title="Saqshy triage API",
        version=saqshy.__version__,
        description="Review queue, consensus and escalation for cyber-volunteers. Each operation lists the "
        "roles allowed to call it in `x-roles`.",
        lifespan=_lifespan(settings, context),
        # FastAPI's own pages load Swagger UI / ReDoc from a CDN with an inline script: api_docs
        # serves Swagger UI from this origin instead, and there is no ReDoc or OAuth2 flow to redirect.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    register_exception_handlers(app)
    _add_middleware(app, settings)
    for module in ROUTERS:
        _include(app, module.router)
    _document_errors(app)
    api_docs.mount_api_docs(app)
    # UI at / + security headers on every response (the docs page with a policy of its own).
    review_ui.mount_review_ui(
        app, page_policies={api_docs.DOCS_PATH: api_docs.CONTENT_SECURITY_POLICY})
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BodySizeLimit)
    app.add_middleware(InFlightLimit, limit=settings.triage_max_in_flight)
    # Outermost of these: a request's id and latency include its wait for a place in flight.
    app.add_middleware(RequestObservability)


def _lifespan(settings: Settings, context: Context | None) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's start-up and shut-down: a given context is borrowed, otherwise one is built and owned."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        ctx = context or build_context(settings)
        with ctx.sessions() as session:
            security.refuse_insecure_production(ctx.settings, session)
        app.state.context = ctx
        scheduler: Scheduler | None = None
        # Requests insert their audit entries; this thread chains them (services/audit.py).
        sequencer = AuditSequencer(ctx.engine).start()
        if owned:
            _open_adapters(ctx)
            scheduler = _start_scheduler(ctx)
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            sequencer.stop()
            if owned:
                ctx.close()

    return lifespan


def _open_adapters(ctx: Context) -> None:
    # Built now, not inside the first request: that request would hold the store's
    # write lock while the adapters open their own connections.
    for name in ("search", "jobs"):
        try:
            getattr(ctx, name)
        except Exception:
            logger.exception("the %s adapter is not available; /health reports it", name)


def _start_scheduler(ctx: Context) -> Scheduler | None:
    """The recurring-jobs scheduler in this process, when the settings keep it here."""
    if not ctx.settings.scheduler_in_process:
        return None
    scheduler = Scheduler(ctx)
    scheduler.run_start_hooks()
    scheduler.start()
    return scheduler
