"""The search port: one abstract engine, typed queries and results, and the document it indexes.

Adapters (``sqlite_fts.SqliteFtsEngine``, ``elastic.ElasticsearchEngine``) implement
``SearchEngine``; everything else (the outbox indexer, the API, the CLI) only sees this module.
The index is derived data: every document is built from the store of record by
``documents_for_items`` and can be rebuilt at any time (``saqshy.search.indexer.reindex``).

Errors::

    saqshy.errors.ServiceUnavailable
    └── SearchUnavailable     the engine cannot be reached (Elasticsearch down): nothing was
                              acknowledged, the caller keeps its outbox rows and retries later
"""

from __future__ import annotations

import html
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Select, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from saqshy.db.models import ContentItem, ReviewTask, Score, TaskStatus, Verdict
from saqshy.errors import ServiceUnavailable
from saqshy.timeutil import as_utc

# A category counts as one of the item's categories from this calibrated probability up.
CATEGORY_THRESHOLD = 0.5

# Highlight markers. Adapters mark matches with these private-use characters, then
# ``render_highlight`` escapes the (hostile) text and turns them into <mark> tags, so a highlight
# is always a safe HTML fragment whatever the crawled page contained.
MARK_START = "\ue000"
MARK_END = "\ue001"
ELLIPSIS = "…"


class SearchUnavailable(ServiceUnavailable):
    """The search engine cannot be reached; nothing in this call was acknowledged."""


def fold_text(value: str) -> str:
    """The folding both adapters apply to documents and queries before their engine sees them.

    NFC so a letter typed as base + combining mark matches its precomposed form, and ё→е because
    Russian writes either. It keeps the string's length, so highlight offsets stay valid. Case is
    folded by the engines themselves (FTS5 unicode61, the Elasticsearch ``lowercase`` filter),
    which both know the Kazakh letters (қ ң ө ү ұ і ә ғ һ); diacritics are *not* removed: й is not
    и, and the bare Elasticsearch distribution has no folding filter to match it anyway.
    """
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    # Two ``replace`` calls: ``str.translate`` is far slower on Cyrillic text and dominated indexing.
    return value.replace("ё", "е").replace("Ё", "Е")


_WORD = re.compile(r"[^\W_]+")


def query_terms(text: str) -> list[str]:
    """The words of a user query, folded; operators and punctuation are ignored on purpose."""
    return _WORD.findall(fold_text(text))


def render_highlight(marked: str) -> str:
    """Escape a marked fragment and turn the markers into <mark> tags."""
    escaped = html.escape(marked, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


@dataclass(slots=True)
class SearchDocument:
    """What the index holds for one content item: its text plus the fields search filters on."""

    item_id: int
    url: str
    language: str
    title: str
    text: str
    fetched_at: datetime
    source_id: int | None = None
    published_at: datetime | None = None
    # From the item's latest classifier score.
    score: float | None = None
    top_category: str | None = None
    model_version: str | None = None
    categories: list[str] = field(default_factory=list)
    # From the item's review task, when it has one.
    task_status: str | None = None
    decision: str | None = None

    @classmethod
    def build(
        cls,
        item: ContentItem | Any,
        score: Score | Any | None = None,
        task: ReviewTask | Any | None = None,
    ) -> Self:
        """Build from a ContentItem (or a row with the same attributes) and its latest score/task."""
        document = cls(
            item_id=item.id,
            url=item.url,
            language=item.language,
            title=item.title or "",
            text=item.text or "",
            fetched_at=item.fetched_at,
            source_id=item.source_id,
            published_at=item.published_at,
        )
        document.add_review(score, task)
        return document

    def add_review(self, score: Score | Any | None, task: ReviewTask | Any | None) -> None:
        """Fill the fields that come from the item's latest score and its review task."""
        categories: set[str] = set()
        if score is not None:
            probabilities = score.probabilities or {}
            categories.update(c for c, p in probabilities.items() if float(p) >= CATEGORY_THRESHOLD)
            if score.top_category:
                categories.add(score.top_category)
            self.score = float(score.score)
            self.top_category = score.top_category
            self.model_version = score.model_version
        if task is not None and task.decided_category:
            categories.add(task.decided_category)
        self.categories = sorted(categories)
        self.task_status = None if task is None else getattr(task.status, "value", task.status)
        decision = None if task is None else task.decision
        self.decision = None if decision is None else getattr(decision, "value", decision)


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp column as the driver returns it, as an aware UTC datetime.

    ``UtcDateTime`` stores naive UTC text on SQLite ("2026-01-01 12:00:00.000000") and the driver
    returns it as is; PostgreSQL's driver returns an aware datetime already.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


# Only the columns a document needs, as the driver returns them: the indexer loads thousands of
# items per batch, and SQLAlchemy's per-value result processing (timestamps) cost more than the
# query. ``_utc`` turns the two timestamps into datetimes. ``documents_from_rows`` takes rows of these.
ITEM_COLUMNS = (
    ContentItem.id,
    ContentItem.url,
    ContentItem.language,
    ContentItem.title,
    ContentItem.text,
    type_coerce(ContentItem.fetched_at, NullType()),
    ContentItem.source_id,
    type_coerce(ContentItem.published_at, NullType()),
)

ItemSelector = Iterable[int] | Select[Any]
"""Item ids, or a SELECT of item ids (cheaper than thousands of bound parameters)."""


def documents_for_items(session: Session, items: ItemSelector) -> dict[int, SearchDocument]:
    """Search documents for the given items as the store has them now (missing ids are absent)."""
    ids_select: Select[Any] | list[int]
    if isinstance(items, Select):
        ids_select = items
    else:
        ids_select = sorted(set(items))
        if not ids_select:
            return {}
    # Core, not the ORM: plain rows, no ORM loading machinery per row.
    connection = session.connection()
    rows = connection.execute(select(*ITEM_COLUMNS).where(ContentItem.id.in_(ids_select))).all()
    return documents_from_rows(connection, rows, ids_select)


def documents_from_rows(
    connection: Connection, rows: Sequence[Any], ids_select: Select[Any] | list[int]
) -> dict[int, SearchDocument]:
    """Documents from rows of ``ITEM_COLUMNS`` (already read), completed with the latest score and
    the review task of the items ``ids_select`` names (the same items)."""
    if not rows:
        return {}
    latest: dict[int, Any] = {}
    # Ascending, so the last row seen per item is its latest score.
    for score_row in connection.execute(
        select(Score.item_id, Score.probabilities, Score.score, Score.top_category, Score.model_version)
        .where(Score.item_id.in_(ids_select))
        .order_by(Score.created_at, Score.id)
    ):
        latest[score_row.item_id] = score_row
    tasks = {
        task_row.item_id: task_row
        for task_row in connection.execute(
            select(ReviewTask.item_id, ReviewTask.status, ReviewTask.decided_category, ReviewTask.decision).where(
                ReviewTask.item_id.in_(ids_select)
            )
        )
    }
    documents: dict[int, SearchDocument] = {}
    for item_id, url, language, title, text, fetched_at, source_id, published_at in rows:
        document = SearchDocument(
            item_id,
            url,
            language,
            title or "",
            text or "",
            _utc(fetched_at),  # type: ignore[arg-type]  # NOT NULL
            source_id,
            _utc(published_at),
        )
        score, task = latest.get(item_id), tasks.get(item_id)
        if score is not None or task is not None:
            document.add_review(score, task)
        documents[item_id] = document
    return documents


class SearchQuery(BaseModel):
    """A search: free text (all words must match) plus filters, all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=1_000)
    category: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    source_id: int | None = None
    task_status: TaskStatus | None = None
    # The review task's decision (illegal or legal); undecided items have none.
    decision: Verdict | None = None
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    max_score: float | None = Field(default=None, ge=0.0, le=1.0)
    # On fetched_at: from inclusive, to exclusive.
    fetched_from: datetime | None = None
    fetched_to: datetime | None = None
    offset: int = Field(default=0, ge=0, le=10_000)
    limit: int = Field(default=20, ge=1, le=200)

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.fetched_from and self.fetched_to and self.fetched_from >= self.fetched_to:
            raise ValueError("fetched_from must be before fetched_to")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError("min_score must not be above max_score")
        return self

    @property
    def terms(self) -> list[str]:
        return query_terms(self.text or "")


class SearchHit(BaseModel):
    item_id: int
    # Relevance as the engine computes it (bm25 for both adapters): comparable within one result.
    relevance: float
    # Field name -> safe HTML fragments with <mark>…</mark> around matched words.
    highlights: dict[str, list[str]] = Field(default_factory=dict)


class SearchResult(BaseModel):
    total: int
    hits: list[SearchHit]


@dataclass(slots=True)
class PreparedDocuments:
    """Documents with the CPU-bound half of indexing done (``SearchEngine.prepare_documents``)."""

    item_ids: list[int]
    payload: Any  # what the engine's ``index_prepared`` sends; its own business


NewItem = tuple[int, str, str]
"""A new item as ``SearchEngine.index_new_items`` takes it: its id, title (or "") and text."""


@dataclass(slots=True)
class BulkOutcome:
    """What the engine acknowledged in one bulk call; ``failed`` maps item id to its error."""

    acknowledged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


class SearchEngine(ABC):
    """The search port. Writes are idempotent (upsert by item id, delete of a missing id is fine)."""

    name: str = "search"

    @abstractmethod
    def ensure_index(self) -> None:
        """Create the index (table, mapping) when it does not exist yet."""

    @abstractmethod
    def reset_index(self) -> None:
        """Drop and recreate the index, empty (``reindex`` then fills it from SQL)."""

    @abstractmethod
    def index_documents(self, documents: Sequence[SearchDocument]) -> BulkOutcome:
        """Insert or replace documents by item id. Raises SearchUnavailable when unreachable."""

    def prepare_documents(self, documents: Sequence[SearchDocument]) -> PreparedDocuments:
        """The CPU-bound half of ``index_documents`` (folding, serialising), split off so that the
        outbox drain can run it while the engine is still writing the previous batch; then
        ``index_prepared`` sends it. By default there is nothing to prepare."""
        return PreparedDocuments([doc.item_id for doc in documents], list(documents))

    def index_prepared(self, prepared: PreparedDocuments) -> BulkOutcome:
        """``index_documents`` for what ``prepare_documents`` returned."""
        return self.index_documents(prepared.payload)

    @abstractmethod
    def delete_documents(self, item_ids: Sequence[int]) -> BulkOutcome:
        """Remove documents by item id; an id that is not indexed counts as acknowledged."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Matching documents, best first (newest first when there is no text)."""

    @abstractmethod
    def count(self) -> int:
        """Number of indexed documents (after ``refresh``)."""

    @abstractmethod
    def indexed_ids(self) -> set[int]:
        """Every indexed item id: for checks and tests, not for large production indexes."""

    def indexes_in_store(self, connection: Connection) -> bool:
        """Whether this index lives in the store's database behind ``connection``: then a new
        item is indexed in its own transaction (``index_new_items``), with nothing to catch up."""
        return False

    def index_new_items(self, connection: Connection, items: Sequence[NewItem]) -> None:
        """Index items just inserted into the store, in the caller's transaction on ``connection``:
        ``(item id, title or "", text)`` each. Only for an engine that ``indexes_in_store``."""
        raise NotImplementedError(f"{self.name} does not index in the store's transaction")

    def refresh(self) -> None:  # noqa: B027 - optional hook, a no-op where writes are visible at once
        """Make acknowledged writes visible to search."""

    def ping(self) -> bool:
        """Whether the engine answers now."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
