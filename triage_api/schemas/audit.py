from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

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
    prev_hash: str
    hash: str


class AuditVerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None
    problems: list[str]
