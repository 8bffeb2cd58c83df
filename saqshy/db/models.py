"""Tables of the store of record.

The SQL store is the only copy of record: the search index and the job queue are derived from
these tables and can be rebuilt from them (``saqshy reindex``, ``saqshy jobs requeue``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from saqshy.timeutil import as_utc, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every engine: SQLite stores no offset, so one is attached on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive time is taken as UTC (what every part of Saqshy writes).
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value is a code change, not a migration.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    MODERATOR = "moderator"
    POLICE = "police"
    ML_ENGINEER = "ml_engineer"
    ADMIN = "admin"


class SourceKind(enum.StrEnum):
    SITE = "site"
    TELEGRAM = "telegram"
    FEED = "feed"
    FORUM = "forum"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    NEEDS_MODERATOR = "needs_moderator"
    DECIDED = "decided"
    CANCELLED = "cancelled"


class Verdict(enum.StrEnum):
    ILLEGAL = "illegal"
    LEGAL = "legal"
    UNSURE = "unsure"


class CaseStatus(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class CaseOutcome(enum.StrEnum):
    TAKEDOWN_REQUESTED = "takedown_requested"
    CRIMINAL_CASE_OPENED = "criminal_case_opened"
    NOT_ILLEGAL = "not_illegal"
    DUPLICATE = "duplicate"


class ClusterLabelStatus(enum.StrEnum):
    INHERITED = "inherited"  # a member when its cluster was decided: nothing for a moderator to do
    PENDING = "pending"  # a repost after the decision, waiting for a moderator
    ACKNOWLEDGED = "acknowledged"  # a moderator agreed the decision holds for the repost
    REOPENED = "reopened"  # a moderator sent the repost to review on its own task


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxOp(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class MediaStatus(enum.StrEnum):
    STORED = "stored"  # verified image, re-encoded thumbnail stored
    SKIPPED_SVG = "skipped_svg"  # SVG is markup (scripts, remote references): never displayed
    SKIPPED_TYPE = "skipped_type"  # not an image by its bytes (HTML served as image/png, ...)
    TOO_BIG = "too_big"  # over the byte cap: the download was aborted
    BOMB = "bomb"  # over the pixel cap (a decompression bomb): never decoded
    ROBOTS = "robots"  # robots.txt forbids it: never requested
    ERROR = "error"  # HTTP error, timeout, broken image


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Shown to police instead of the name: volunteers are pseudonymised outside the platform.
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.VOLUNTEER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(_enum(Role))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(4096))
    kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind))
    crawl_every_seconds: Mapped[int] = mapped_column(Integer, default=6 * 3600)
    max_depth: Mapped[int] = mapped_column(Integer, default=2)
    max_items: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rolled up from decisions: share of reviewed items confirmed illegal, used to order recrawls.
    risk_score: Mapped[float] = mapped_column(Float, default=0.0)
    is_candidate: Mapped[bool] = mapped_column(Boolean, default=False)
    discovered_from_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    # Escalation roll-up: decided review tasks of the source's items, and how many were illegal.
    reviewed_count: Mapped[int] = mapped_column(Integer, default=0)
    illegal_count: Mapped[int] = mapped_column(Integer, default=0)
    # A candidate a moderator turned down: it is not suggested again.
    candidate_rejected_at: Mapped[datetime | None]
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_crawled_at: Mapped[datetime | None]
    next_crawl_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceLink(Base):
    """An outlink seen on a source's pages (another domain or Telegram channel)."""

    __tablename__ = "source_links"
    __table_args__ = (UniqueConstraint("source_id", "target", name="uq_source_links_source_target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(512))
    target_kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind))
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContentItem(Base):
    __tablename__ = "content_items"
    __table_args__ = (
        Index("ix_content_items_source_fetched", "source_id", "fetched_at"),
        Index("ix_content_items_text_sha256", "text_sha256"),
        Index("ix_content_items_cluster_id", "cluster_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    url: Mapped[str] = mapped_column(String(4096))
    # One row per canonical URL: a recrawl updates the row in place.
    canonical_url: Mapped[str] = mapped_column(String(4096), unique=True)
    post_id: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str] = mapped_column(String(8), default="other")
    title: Mapped[str | None] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str | None] = mapped_column(String(200))
    is_binary: Mapped[bool] = mapped_column(Boolean, default=False)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # SHA-256 of the raw response body as fetched (the evidence), and of the extracted text (dedup).
    sha256: Mapped[str] = mapped_column(String(64))
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    simhash: Mapped[int | None] = mapped_column(BigInteger)
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    evidence_path: Mapped[str | None] = mapped_column(String(1024))
    evidence_offset: Mapped[int | None] = mapped_column(BigInteger)
    evidence_length: Mapped[int | None] = mapped_column(BigInteger)
    server_ip: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fetch_count: Mapped[int] = mapped_column(Integer, default=1)
    text_changed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source | None] = relationship()


class Media(Base):
    """An image referenced by an item: where it came from, its evidence, and what we made of it.

    Reviewers only ever see ``thumbnail_key``: a re-encoded, metadata-free copy in our own store
    (``Settings.media_dir``), content-addressed by its SHA-256 so items sharing an image share it.
    """

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("item_id", "url", name="uq_media_item_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # (item_id, url) is unique, so its index also serves "the media of an item".
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Longer references are not fetched (a btree entry on PostgreSQL holds about 2,700 bytes).
    url: Mapped[str] = mapped_column(String(2048))
    status: Mapped[MediaStatus] = mapped_column(_enum(MediaStatus))
    # The original bytes as fetched: their SHA-256 and the WARC record that holds them.
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    evidence_path: Mapped[str | None] = mapped_column(String(1024))
    evidence_offset: Mapped[int | None] = mapped_column(BigInteger)
    evidence_length: Mapped[int | None] = mapped_column(BigInteger)
    # What the bytes are (sniffed, never the server's Content-Type), and their size in pixels.
    sniffed_type: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    thumbnail_key: Mapped[str | None] = mapped_column(String(80))
    thumbnail_type: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))
    fetched_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("item_id", "model_version", name="uq_scores_item_model"),
        # A version's scores by time: score drift reads the production version's recent ones.
        Index("ix_scores_version_created", "model_version", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    # {category: calibrated probability}
    probabilities: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    top_category: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[list[Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set when the triage sync has turned this score into a task (or decided not to).
    triaged_at: Mapped[datetime | None] = mapped_column(index=True)


class ReviewTask(Base):
    __tablename__ = "review_tasks"
    __table_args__ = (
        Index("ix_review_tasks_queue", "status", "lease_expires_at", "priority"),
        # Claim order: ``rank`` is the priority aged by creation time (see triage_api.services.queue).
        Index("ix_review_tasks_status_rank", "status", "rank"),
        Index("ix_review_tasks_lease_owner", "lease_owner_id"),
        UniqueConstraint("item_id", name="uq_review_tasks_item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.OPEN)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_verdict: Mapped[Verdict | None] = mapped_column(_enum(Verdict))
    gold_category: Mapped[str | None] = mapped_column(String(64))
    is_exploration: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires_at: Mapped[datetime | None]
    decision: Mapped[Verdict | None] = mapped_column(_enum(Verdict))
    decided_category: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[float] = mapped_column(Float, default=0.0)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    # Near-duplicates of the item (same cluster) folded into this one task.
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str | None] = mapped_column(String(100))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    item: Mapped[ContentItem] = relationship()


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", name="uq_votes_task_user"),
        Index("ix_votes_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict))
    category: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(2000))
    is_moderator_decision: Mapped[bool] = mapped_column(Boolean, default=False)
    # The vote's weight in consensus (1.0 unless votes are weighted by gold accuracy).
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id"))
    category: Mapped[str] = mapped_column(String(64))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.NEW)
    outcome: Mapped[CaseOutcome | None] = mapped_column(_enum(CaseOutcome))
    outcome_note: Mapped[str | None] = mapped_column(String(2000))
    evidence_path: Mapped[str | None] = mapped_column(String(1024))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    outcome_at: Mapped[datetime | None]
    offline_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Takedown tracking: one failed re-check can be a blip; offline_at is set after a streak of
    # them (dated from its first failure) or at once on 404/410/451.
    check_count: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None]
    last_check_result: Mapped[str | None] = mapped_column(String(300))
    # The item as reviewed, frozen at escalation (a recrawl updates items in place): the evidence
    # bundle, built by a job right after, is made from this.
    item_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ClusterLabel(Base):
    """An item labelled with its near-duplicate cluster's decision instead of being reviewed itself.

    Written for every other member when a cluster's task is decided, and for a repost that arrives
    after the decision (listed for moderators until one acknowledges or reopens it). When the
    task is in a case the item joins the case, frozen in ``item_snapshot`` as the case's item is.
    """

    __tablename__ = "cluster_labels"
    __table_args__ = (Index("ix_cluster_labels_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict))
    category: Mapped[str | None] = mapped_column(String(64))
    is_repost: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ClusterLabelStatus] = mapped_column(_enum(ClusterLabelStatus))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    item_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    reopened_task_id: Mapped[int | None] = mapped_column(ForeignKey("review_tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One case sent to the police endpoint. The body is frozen at creation, so every retry sends
    the same bytes with the same idempotency key and the receiver can drop duplicates."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(4096))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[WebhookStatus] = mapped_column(_enum(WebhookStatus), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Append-only, hash-chained: each entry carries the hash of the previous one.

    An entry is written with its transaction and chained just after (``seq``, ``prev_hash`` and
    ``hash`` set by the sequencer in ``triage_api.services.audit``); until then those are NULL.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        # The sequencer's work list: entries not chained yet (a handful at any time).
        Index("ix_audit_log_unchained", "id", postgresql_where=text("seq IS NULL"),
              sqlite_where=text("seq IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Position in the chain (1, 2, ...): the order verification walks.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The head of the audit chain (one row): appends lock it, and it betrays a removed tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int | None] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer, default=0)


class CategoryThreshold(Base):
    """A category's decision threshold set by staff, overriding the taxonomy's default."""

    __tablename__ = "category_thresholds"

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    threshold: Mapped[float] = mapped_column(Float)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthToken(Base):
    """A bearer token or a browser session; only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Sessions only: the CSRF token the browser must echo in X-CSRF-Token on unsafe requests.
    csrf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Login attempts, counted per e-mail and per client address to rate-limit guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class SearchOutbox(Base):
    """Items whose search document is stale. Written in the same transaction as the item."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, index=True)
    op: Mapped[OutboxOp] = mapped_column(_enum(OutboxOp), default=OutboxOp.UPSERT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRecord(Base):
    """The record of a job; the queue (Redis or in-process) only carries it and can be rebuilt."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    last_error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Long jobs report {stage, fraction, message, eta_seconds, updated_at} (saqshy.jobs.progress).
    progress: Mapped[dict[str, Any] | None] = mapped_column()
    # Set by a cancel request; the running job stops at its next progress report.
    cancel_requested_at: Mapped[datetime | None]
    # The request that enqueued it (saqshy.logs): its log lines carry the same id.
    request_id: Mapped[str | None] = mapped_column(String(64))
