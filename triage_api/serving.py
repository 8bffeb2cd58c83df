"""The app of one ``saqshy serve`` process, with the process tuned for serving.

The tuning is process-wide (the GIL switch interval, the collector), so it belongs to the server
process and not to ``create_app``: tests build many apps in one process and must leave it alone.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from saqshy.db.session import warm_pool
from saqshy.gc_tuning import tune_gc
from triage_api.main import create_app

# Short, so a request holding row locks gets the GIL back soon after each statement it sends.
GIL_SWITCH_INTERVAL_S = 0.001

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def served_app() -> FastAPI:
    """uvicorn's factory under ``saqshy serve`` (each worker process calls it)."""
    return tuned_for_serving(create_app())


def tuned_for_serving(app: FastAPI) -> FastAPI:
    """``app``, whose start-up also tunes this process for serving it once the app is up."""
    app.router.lifespan_context = _tuned(app.router.lifespan_context)
    return app


def _tuned(lifespan: Lifespan) -> Lifespan:
    @asynccontextmanager
    async def tuned(app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        async with lifespan(app):
            # Open the store's connections now, rather than inside the first requests.
            warm_pool(app.state.context.engine)
            # The app, its models and the adapters exist now: keep full collections off them.
            tune_gc()
            yield

    return tuned

