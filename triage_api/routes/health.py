"""Health: a bare liveness answer for anyone (load balancers, uptime checks); the detail
(version, backends, counts, errors) for signed-in staff only, since it maps the installation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

import saqshy
from saqshy.context import Context
from saqshy.db.models import Role
from saqshy.db.session import READ_ONLY
from triage_api.deps import ContextDep, require_roles
from triage_api.services.audit import sequencer_for
from triage_api.services.auth import Actor

router = APIRouter(tags=["health"])


class ComponentHealth(BaseModel):
    name: str
    backend: str
    ok: bool
    detail: str | None = None


class LivenessPublic(BaseModel):
    status: Literal["ok", "degraded"]


class HealthPublic(LivenessPublic):
    version: str
    components: list[ComponentHealth]


Staff = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.MODERATOR, Role.ML_ENGINEER))]


@router.get("/health", response_model=LivenessPublic)
def liveness(ctx: ContextDep) -> LivenessPublic:
    """Public. "ok" while the store answers, "degraded" otherwise; nothing more (see /health/details)."""
    return LivenessPublic(status="ok" if _database(ctx).ok else "degraded")


@router.get("/health/details", response_model=HealthPublic)
def health(ctx: ContextDep, _staff: Staff) -> HealthPublic:
    """Admin, moderator, ML engineer: the store, the search index, the job queue and the audit sequencer."""
    components = [_database(ctx)]
    for name, probe in (("search", lambda: ctx.search), ("jobs", lambda: ctx.jobs)):
        try:
            adapter = probe()
            ping = getattr(adapter, "ping", None)
            ok = bool(ping()) if callable(ping) else True
            components.append(ComponentHealth(name=name, backend=type(adapter).__name__, ok=ok))
        except Exception as exc:
            components.append(ComponentHealth(name=name, backend="unavailable", ok=False, detail=str(exc)[:200]))
    components.append(_audit_health(ctx))
    overall: Literal["ok", "degraded"] = "ok" if all(c.ok for c in components) else "degraded"
    return HealthPublic(status=overall, version=saqshy.__version__, components=components)


def _database(ctx: Context) -> ComponentHealth:
    try:
        with ctx.engine.connect().execution_options(**READ_ONLY) as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return ComponentHealth(name="database", backend=ctx.engine.dialect.name, ok=False, detail=str(exc)[:200])
    return ComponentHealth(name="database", backend=ctx.engine.dialect.name, ok=True)


def _audit_health(ctx: Context) -> ComponentHealth:
    """The audit sequencer of this process: failing while its last attempts to chain failed."""
    sequencer = sequencer_for(ctx.engine)
    if sequencer is None:
        return ComponentHealth(name="audit", backend="inline", ok=True, detail="entries chained at commit")
    if sequencer.consecutive_failures:
        return ComponentHealth(name="audit", backend="sequencer", ok=False,
                               detail=f"{sequencer.consecutive_failures} failed attempts to chain entries; "
                               f"last: {sequencer.last_error}"[:200])
    return ComponentHealth(name="audit", backend="sequencer", ok=True, detail=f"{sequencer.chained} entries chained")
