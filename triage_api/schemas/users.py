from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from saqshy.db.models import Role
from triage_api.schemas.common import CleanLine, StrictModel, UtcDatetime


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    pseudonym: str
    role: Role
    is_active: bool
    locale: str
    created_at: UtcDatetime


class UserWithAccuracy(UserPublic):
    """What moderators see of a volunteer: their accuracy on gold tasks (None before any)."""

    gold_votes: int = 0
    gold_correct: int = 0
    accuracy: float | None = None


class MePublic(UserWithAccuracy):
    """Your own account, with what you may grant (so a client offers only those roles)."""

    grantable_roles: list[Role] = Field(default_factory=list, description="Roles you may invite or grant")


class UserCreate(StrictModel):
    email: CleanLine = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256, description="At least SAQSHY_TRIAGE_PASSWORD_MIN_CHARS")
    role: Role
    display_name: CleanLine | None = Field(default=None, max_length=200)


class UserUpdate(StrictModel):
    role: Role | None = None
    is_active: bool | None = None
    display_name: CleanLine | None = Field(default=None, max_length=200)


class MeUpdate(StrictModel):
    display_name: CleanLine | None = Field(default=None, min_length=1, max_length=200)
    locale: Literal["ru", "kk", "en"] | None = None
    preferences: dict[str, Any] | None = Field(default=None, max_length=50)


class PasswordChange(StrictModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256, description="At least SAQSHY_TRIAGE_PASSWORD_MIN_CHARS")


class InviteCreate(StrictModel):
    role: Role = Role.VOLUNTEER
    email: CleanLine | None = Field(default=None, min_length=3, max_length=320)
    ttl_hours: int | None = Field(default=None, ge=1, le=24 * 900)


class InvitePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    role: Role
    created_by_id: int | None
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used_at: UtcDatetime | None
    used_by_id: int | None


class InviteCreated(InvitePublic):
    """Returned once: the token is not stored and cannot be shown again."""

    token: str
    path: str
