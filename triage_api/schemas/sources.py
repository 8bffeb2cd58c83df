"""Sources with their roll-up of decisions, and candidate sources."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from saqshy.db.models import SourceKind
from saqshy.netpolicy import without_credentials
from saqshy.services.sources import MAX_DEPTH, MIN_CRAWL_EVERY_SECONDS
from triage_api.schemas.common import StrictModel, UtcDatetime

MAX_CRAWL_EVERY_SECONDS = 90 * 24 * 3600


class SourcePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    # A source stored with credentials in its URL, before they were refused, never shows them.
    url: Annotated[str, AfterValidator(without_credentials)]
    kind: SourceKind
    enabled: bool
    is_candidate: bool
    discovered_from_id: int | None
    candidate_rejected_at: UtcDatetime | None
    reviewed_count: int
    illegal_count: int
    risk_score: float
    crawl_every_seconds: int
    max_depth: int
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


class SourceCreate(StrictModel):
    """A new source to crawl (moderators, admins)."""

    url: str = Field(min_length=1, max_length=2000, description="Start URL; for Telegram also @channel")
    kind: SourceKind = SourceKind.SITE
    crawl_every_seconds: int = Field(
        default=6 * 3600, ge=MIN_CRAWL_EVERY_SECONDS, le=MAX_CRAWL_EVERY_SECONDS, description="Recrawl interval"
    )
    max_depth: int = Field(default=2, ge=0, le=MAX_DEPTH, description="Link depth from the start URL (sites)")
    name: str | None = Field(default=None, max_length=200, description="Unique name (default: from the URL)")


class SourceUpdate(StrictModel):
    """A source's schedule (moderators, admins). Omitted fields are left as they are."""

    crawl_every_seconds: int | None = Field(
        default=None, ge=MIN_CRAWL_EVERY_SECONDS, le=MAX_CRAWL_EVERY_SECONDS,
        description="Base recrawl interval; risky sources are revisited sooner",
    )
    enabled: bool | None = None
    max_depth: int | None = Field(default=None, ge=0, le=MAX_DEPTH)


class CrawlStatus(BaseModel):
    name: str
    kind: SourceKind
    enabled: bool
    last_crawled_at: UtcDatetime | None
    next_crawl_at: UtcDatetime | None
    overdue: bool = Field(description="Enabled and its next crawl is in the past")
    item_count: int
    items_last_24h: int = Field(description="Items fetched (new or refetched) in the last 24 hours")
    source_id: int
    crawl_every_seconds: int
    recrawl_interval_seconds: int = Field(description="The interval in effect, shortened by the source's risk")


class CrawlStatusPublic(BaseModel):
    generated_at: UtcDatetime
    sources: list[CrawlStatus]
