"""Cases, evidence, webhook deliveries, volunteer outcomes and training labels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from saqshy.db.models import CaseOutcome, CaseStatus, WebhookStatus
from triage_api.schemas.common import CleanNote, StrictModel, UtcDatetime
from triage_api.schemas.reposts import CaseMemberPublic
from triage_api.services.cases import TrainingLabel, VolunteerOutcome


class CasePublic(BaseModel):
    """A case as the police and moderators see it (volunteers appear by pseudonym in the bundle)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: int
    item_id: int
    category: str
    status: CaseStatus
    outcome: CaseOutcome | None
    outcome_note: str | None
    evidence_sha256: str | None
    acknowledged_at: UtcDatetime | None
    outcome_at: UtcDatetime | None
    created_at: UtcDatetime
    # Takedown tracking.
    offline_at: UtcDatetime | None
    last_checked_at: UtcDatetime | None
    check_count: int
    last_check_result: str | None


class CaseDetail(CasePublic):
    url: str
    fetched_at: UtcDatetime
    sha256: str
    hours_to_offline: float | None
    # Near-duplicates of the item attached to the case: its cluster's members and later reposts.
    members: list[CaseMemberPublic] = []


class OutcomeUpdate(StrictModel):
    outcome: CaseOutcome
    note: CleanNote | None = Field(default=None, max_length=2000)


class VolunteerOutcomePublic(VolunteerOutcome):
    """What became of a case the volunteer helped confirm (the police's note is not shown)."""

    model_config = ConfigDict(from_attributes=True)

    outcome_at: UtcDatetime | None
    offline_at: UtcDatetime | None
    opened_at: UtcDatetime
    voted_at: UtcDatetime


class WebhookDeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    event: str
    url: str
    idempotency_key: str
    status: WebhookStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: UtcDatetime | None
    delivered_at: UtcDatetime | None
    created_at: UtcDatetime


class TrainingLabelPublic(TrainingLabel):
    model_config = ConfigDict(from_attributes=True)

    decided_at: UtcDatetime | None


class TrainingLabelsPublic(BaseModel):
    items: list[TrainingLabelPublic]
    # Pass as after_task_id for the next page; None when this page is the last.
    next_after_task_id: int | None
