from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from saqshy.db.models import TaskStatus, Verdict
from triage_api.schemas.common import CleanNote, StrictModel, UtcDatetime
from triage_api.schemas.tasks import TaskForReview


class VoteCreate(StrictModel):
    verdict: Verdict
    category: str | None = Field(default=None, max_length=64, description="A taxonomy category; for 'illegal' "
                                 "it defaults to the task's category.")
    note: CleanNote | None = Field(default=None, max_length=2000)


class VotePublic(BaseModel):
    """A reviewer's own vote (others' votes are never shown to reviewers)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: int
    verdict: Verdict
    category: str | None
    note: str | None
    created_at: UtcDatetime


class VoteCast(VotePublic):
    """The vote just cast, and for how many seconds its voter may still undo it."""

    undo_seconds: int


class MyVote(VotePublic):
    task_status: TaskStatus
    task_decision: Verdict | None


class MyDecision(BaseModel):
    """One task as its voter saw it in the queue, their own vote, and how the task stands now
    (never others' votes). ``vote`` is null for staff who open a task they did not vote on."""

    task: TaskForReview
    vote: VotePublic | None
    task_decision: Verdict | None
    decided_category: str | None
    decided_at: UtcDatetime | None


class Resolution(StrictModel):
    verdict: Verdict
    category: str | None = Field(default=None, max_length=64)
    note: CleanNote | None = Field(default=None, max_length=2000)


class GoldCreate(StrictModel):
    verdict: Verdict
    category: str | None = Field(default=None, max_length=64)
