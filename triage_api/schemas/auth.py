from __future__ import annotations

from typing import Literal

from pydantic import Field

from saqshy.db.models import Role
from triage_api.schemas.common import CleanLine, StrictModel, UtcDatetime
from triage_api.schemas.users import UserPublic


class LoginRequest(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(StrictModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: UtcDatetime
    user: UserPublic


class SessionPublic(StrictModel):
    """The session itself travels in an HTTP-only cookie; echo ``csrf_token`` in X-CSRF-Token."""

    csrf_token: str
    expires_at: UtcDatetime
    user: UserPublic


class RegisterRequest(StrictModel):
    token: str = Field(min_length=10, max_length=200, description="The invite token from the invite link.")
    email: CleanLine = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256, description="At least SAQSHY_TRIAGE_PASSWORD_MIN_CHARS")
    display_name: CleanLine | None = Field(default=None, max_length=200)
    locale: Literal["ru", "kk", "en"] = "ru"


class InviteInfo(StrictModel):
    role: Role
    email: str | None
    expires_at: UtcDatetime
    password_min_chars: int = Field(description="The shortest password the server accepts")
