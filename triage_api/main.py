"""The FastAPI application factory (``uvicorn triage_api.main:create_app --factory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import saqshy
from saqshy.context import Context, build_context
from saqshy.settings import Settings, get_settings
from triage_api.exception_handlers import register_exception_handlers
from triage_api.routes import health


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """Build the app. A given context is used as is (tests); otherwise one is built at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.context = context or build_context(settings or get_settings())
        try:
            yield
        finally:
            if owned:
                app.state.context.close()

    app = FastAPI(
        title="Saqshy triage API",
        version=saqshy.__version__,
        description="Review queue, consensus and escalation for cyber-volunteers.",
        lifespan=lifespan,
    )
    register_exception_handlers(app)
    app.include_router(health.router)
    return app
