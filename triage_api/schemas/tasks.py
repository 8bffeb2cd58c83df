from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from saqshy.db.models import SourceKind, TaskStatus, Verdict
from triage_api.schemas.common import StrictModel, UtcDatetime


class SourceRef(BaseModel):
    """Where an item came from, as a reviewer sees it."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: SourceKind


class ItemForReview(BaseModel):
    """The content under review. Hostile text: clients must render it as text, never as HTML."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: SourceRef | None = Field(default=None, description="The channel or site; null for items without one")
    url: str
    title: str | None
    text: str
    language: str
    author: str | None
    published_at: UtcDatetime | None
    fetched_at: UtcDatetime


class ScorePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_version: str
    probabilities: dict[str, Any]
    score: float
    top_category: str | None
    explanation: list[Any] | None


class TaskForReview(BaseModel):
    """What a reviewer sees: the item and the model's view, never other reviewers' votes,
    and nothing that tells a gold or exploration task apart."""

    id: int
    category: str | None
    status: TaskStatus
    lease_expires_at: UtcDatetime | None
    item: ItemForReview
    score: ScorePublic | None
    duplicate_count: int = Field(
        default=0, description="Other items in the item's near-duplicate cluster (the task stands for 1 + this many)"
    )


class TaskPublic(BaseModel):
    """What staff see in lists."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    cluster_id: int | None
    category: str | None
    score: float
    priority: float
    effective_priority: float
    status: TaskStatus
    is_gold: bool
    gold_verdict: Verdict | None
    gold_category: str | None
    is_exploration: bool
    vote_count: int
    duplicate_count: int
    lease_owner_id: int | None
    lease_expires_at: UtcDatetime | None
    decision: Verdict | None
    decided_category: str | None
    decided_at: UtcDatetime | None
    decided_by_id: int | None
    model_version: str | None
    created_at: UtcDatetime


class VoteWithVoter(BaseModel):
    id: int
    user_id: int
    display_name: str
    pseudonym: str
    verdict: Verdict
    category: str | None
    note: str | None
    weight: float
    is_moderator_decision: bool
    created_at: UtcDatetime
    voter_accuracy: float | None
    voter_gold_votes: int


class TaskDetail(TaskPublic):
    item: ItemForReview
    score_detail: ScorePublic | None
    votes: list[VoteWithVoter]


class LeaseExtend(StrictModel):
    seconds: int | None = Field(default=None, ge=1, le=86_400)


class LeasePublic(BaseModel):
    task_id: int
    lease_expires_at: UtcDatetime


class AvailablePublic(BaseModel):
    available: int


class SyncPublic(BaseModel):
    scores_seen: int
    created: int
    exploration: int
    updated: int
    folded_into_cluster: int
    below_threshold: int


class ThresholdPublic(BaseModel):
    category: str
    threshold: float
    default: float
    severity: str
    updated_at: UtcDatetime | None
    updated_by_id: int | None


class ThresholdUpdate(StrictModel):
    threshold: float = Field(gt=0.0, lt=1.0)
