"""One-time invitations: admins invite anyone, moderators invite volunteers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from saqshy.db.models import Role
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page
from triage_api.schemas.users import InviteCreate, InviteCreated, InvitePublic
from triage_api.services import users
from triage_api.services.auth import Actor

router = APIRouter(prefix="/invites", tags=["invites"])

Inviter = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN))]


@router.post("", response_model=InviteCreated, status_code=status.HTTP_201_CREATED)
def create_invite(body: InviteCreate, actor: Inviter, session: SessionDep, settings: SettingsDep) -> InviteCreated:
    """Moderator (volunteer invites only), admin. The token is shown once; the link is ``/invite/<token>``."""
    invite, token = users.create_invite(session, settings, actor, role=body.role, email=body.email,
                                        ttl_hours=body.ttl_hours)
    return InviteCreated.model_validate(
        {**InvitePublic.model_validate(invite).model_dump(), "token": token, "path": f"/invite/{token}"}
    )


@router.get("", response_model=Page[InvitePublic])
def list_invites(actor: Inviter, session: SessionDep, offset: OffsetParam = 0, limit: LimitParam = 50
                 ) -> Page[InvitePublic]:
    """Moderator (their own), admin (all)."""
    rows, total = users.list_invites(session, actor, offset=offset, limit=limit)
    return Page(items=[InvitePublic.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.delete("/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_invite(invite_id: IdPath, actor: Inviter, session: SessionDep) -> None:
    """Moderator (their own), admin."""
    users.revoke_invite(session, actor, invite_id)
