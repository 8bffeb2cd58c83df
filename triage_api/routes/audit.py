"""The audit log: read it and verify its hash chain (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from saqshy.db.models import Role
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.audit import AuditEntryPublic, AuditVerifyPublic
from triage_api.schemas.common import LimitParam, OffsetParam, Page
from triage_api.services.audit import AuditFilter, audit_actions, list_entries
from triage_api.services.audit_checkpoints import verify_audit_log
from triage_api.services.auth import Actor

router = APIRouter(prefix="/audit", tags=["audit"])

Admin = Annotated[Actor, Depends(require_roles(Role.ADMIN))]


@router.get("", response_model=Page[AuditEntryPublic])
def list_audit_entries(
    user: Admin, session: SessionDep, offset: OffsetParam = 0, limit: LimitParam = 50,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="Who acted")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. task.gold")] = None,
    at_from: Annotated[datetime | None, Query(description="At or after")] = None,
    at_to: Annotated[datetime | None, Query(description="Before")] = None,
) -> Page[AuditEntryPublic]:
    """Admin: entries matching every given filter, newest first."""
    where = AuditFilter(actor_id=actor_id, action=action, entity_type=entity_type, entity_id=entity_id,
                        at_from=at_from, at_to=at_to)
    rows, total = list_entries(session, where, offset=offset, limit=limit)
    return Page(items=[AuditEntryPublic.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/actions", response_model=list[str])
def list_actions(user: Admin, session: SessionDep) -> list[str]:
    """Admin: every action name in the log (for filtering)."""
    return audit_actions(session)


@router.get("/verify", response_model=AuditVerifyPublic)
def verify(user: Admin, session: SessionDep, settings: SettingsDep) -> AuditVerifyPublic:
    """Admin: chain pending entries, walk the whole chain, check it against every signed checkpoint and
    report any edited, removed or rewritten entry; when intact, sign the head as a new checkpoint."""
    result = verify_audit_log(session, settings)
    return AuditVerifyPublic(ok=result.ok, entries=result.entries, head_hash=result.head_hash,
                             first_bad_id=result.first_bad_id, first_bad_position=result.first_bad_position,
                             checkpoints=result.checkpoints, problems=result.problems, pending=result.pending)
