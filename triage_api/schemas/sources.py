"""Sources with their roll-up of decisions, and candidate sources."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from saqshy.db.models import SourceKind
from triage_api.schemas.common import UtcDatetime


class SourcePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    kind: SourceKind
    enabled: bool
    is_candidate: bool
    discovered_from_id: int | None
    candidate_rejected_at: UtcDatetime | None
    reviewed_count: int
    illegal_count: int
    risk_score: float
    crawl_every_seconds: int
    last_crawled_at: UtcDatetime | None
    next_crawl_at: UtcDatetime | None
    created_at: UtcDatetime


class SourceLinkPublic(BaseModel):
    target: str
    kind: SourceKind
    seen_count: int


class SourceDetail(SourcePublic):
    illegal_rate: float
    recrawl_interval_seconds: int
    cases: int
    top_links: list[SourceLinkPublic]


class RollupPublic(BaseModel):
    changed_source_ids: list[int]
    candidates_created: list[SourcePublic]
