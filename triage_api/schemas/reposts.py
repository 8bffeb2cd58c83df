"""Reposts of decided items, as moderators see them, and the near-duplicates attached to a case."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from saqshy.db.models import ClusterLabelStatus, Verdict
from triage_api.schemas.common import UtcDatetime

# ``all`` lists every repost; the others one status (``pending``: waiting for a moderator).
RepostFilter = Literal["pending", "acknowledged", "reopened", "all"]


class RepostPublic(BaseModel):
    """A repost and the decision it inherited. ``url`` and ``title`` are crawled text: render as text."""

    id: int
    item_id: int
    url: str
    title: str | None
    language: str
    source_name: str | None
    fetched_at: UtcDatetime
    labelled_at: UtcDatetime
    task_id: int
    original_item_id: int
    original_url: str
    decision: Verdict
    category: str | None
    decided_at: UtcDatetime | None
    case_id: int | None
    status: ClusterLabelStatus
    reviewed_by_id: int | None
    reviewed_at: UtcDatetime | None
    reopened_task_id: int | None


class CaseMemberPublic(BaseModel):
    """An item attached to a case besides its own: a near-duplicate, frozen when it was attached."""

    item_id: int
    url: str | None
    sha256: str | None
    fetched_at: UtcDatetime | None
    repost: bool
    attached_at: UtcDatetime
