from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triage_api.schemas.common import UtcDatetime


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDatetime
    actor_id: int | None
    action: str
    entity_type: str
    entity_id: str | None
    payload: dict[str, Any]
    seq: int | None = Field(description="Position in the hash chain; null for the moments before it is chained.")
    prev_hash: str | None
    hash: str | None


class AuditVerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None
    first_bad_position: int | None = Field(None, description="Chain position of the first problem found.")
    checkpoints: int = Field(0, description="Signed checkpoints (kept outside the database) checked against.")
    problems: list[str]
    pending: int = Field(0, description="Entries committed after the verification started, not chained yet.")
