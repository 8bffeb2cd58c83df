"""The audit log: read it and verify its hash chain (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from saqshy.db.models import AuditEntry, Role, User
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.audit import AuditEntryPublic, AuditVerifyPublic
from triage_api.schemas.common import LimitParam, OffsetParam, Page
from triage_api.services.audit_checkpoints import verify_audit_log

router = APIRouter(prefix="/audit", tags=["audit"])

Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]


@router.get("", response_model=Page[AuditEntryPublic])
def list_entries(
    user: Admin, session: SessionDep, offset: OffsetParam = 0, limit: LimitParam = 50,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditEntryPublic]:
    """Admin: entries, newest first."""
    conditions = []
    if entity_type is not None:
        conditions.append(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        conditions.append(AuditEntry.entity_id == entity_id)
    rows = session.execute(
        select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    ).scalars()
    total = session.execute(select(func.count()).select_from(AuditEntry).where(*conditions)).scalar_one()
    return Page(items=[AuditEntryPublic.model_validate(r) for r in rows], total=int(total), offset=offset,
                limit=limit)


@router.get("/verify", response_model=AuditVerifyPublic)
def verify(user: Admin, session: SessionDep, settings: SettingsDep) -> AuditVerifyPublic:
    """Admin: chain pending entries, walk the whole chain, check it against every signed checkpoint and
    report any edited, removed or rewritten entry; when intact, sign the head as a new checkpoint."""
    result = verify_audit_log(session, settings)
    return AuditVerifyPublic(ok=result.ok, entries=result.entries, head_hash=result.head_hash,
                             first_bad_id=result.first_bad_id, first_bad_position=result.first_bad_position,
                             checkpoints=result.checkpoints, problems=result.problems, pending=result.pending)
