"""Full-text search over items."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from saqshy.db.models import CaseStatus, TaskStatus, Verdict
from triage_api.schemas.common import UtcDatetime


class ItemHitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: int
    relevance: float
    # Field -> safe HTML fragments (escaped text, <mark> around matches). Every other string is
    # crawled text as is: the client must escape it.
    highlights: dict[str, list[str]]
    url: str
    title: str | None
    language: str
    fetched_at: UtcDatetime
    published_at: UtcDatetime | None
    source_id: int | None
    source_name: str | None
    score: float | None
    top_category: str | None
    model_version: str | None
    task_id: int | None
    task_status: TaskStatus | None
    decision: Verdict | None
    decided_category: str | None
    case_id: int | None
    case_status: CaseStatus | None
    # The decision the item inherited from its near-duplicate cluster's task (it has none of its own).
    inherited_decision: Verdict | None = None
    inherited_category: str | None = None
    inherited_from_task_id: int | None = None
