"""Full-text search over items through the search port (``ctx.search``), enriched from SQL.

The engine answers ids, relevance and highlights; the rest of a hit (URL, source, latest score,
review and case status) comes from the store of record, so a stale index never shows a stale
status. Items deleted from the store since they were indexed are dropped from the page.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from saqshy.db.models import Case, CaseStatus, ClusterLabel, ContentItem, ReviewTask, Score, Source, TaskStatus, Verdict
from saqshy.search.base import SearchEngine, SearchHit, SearchQuery
from triage_api.services import reposts


class ItemHit(BaseModel):
    """One hit as the store of record enriches it (``ItemHitPublic`` is its API shape)."""

    model_config = ConfigDict(frozen=True)

    item_id: int
    relevance: float
    # Field -> safe HTML fragments (escaped text, <mark> around matches). Every other string is
    # crawled text as is: the client must escape it.
    highlights: dict[str, list[str]]
    url: str
    title: str | None
    language: str
    fetched_at: datetime
    published_at: datetime | None
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


def search_items(session: Session, engine: SearchEngine, query: SearchQuery) -> tuple[list[ItemHit], int]:
    """One page of matching items, best first, and the engine's total."""
    result = engine.search(query)
    ids = [hit.item_id for hit in result.hits]
    if not ids:
        return [], result.total
    items = {
        row.ContentItem.id: row
        for row in session.execute(
            select(ContentItem, Source.name)
            .outerjoin(Source, Source.id == ContentItem.source_id)
            .where(ContentItem.id.in_(ids))
        )
    }
    scores: dict[int, Score] = {}
    for score in session.scalars(select(Score).where(Score.item_id.in_(ids)).order_by(Score.created_at, Score.id)):
        scores[score.item_id] = score  # ascending: the last one seen is the latest
    tasks = {task.item_id: task for task in session.scalars(select(ReviewTask).where(ReviewTask.item_id.in_(ids)))}
    cases = {case.item_id: case for case in session.scalars(select(Case).where(Case.item_id.in_(ids)))}
    labels = reposts.labels_of(session, ids)
    return [_hit(hit, items[hit.item_id], scores, tasks, cases, labels) for hit in result.hits
            if hit.item_id in items], result.total


def _hit(
    hit: SearchHit,
    row: object,
    scores: dict[int, Score],
    tasks: dict[int, ReviewTask],
    cases: dict[int, Case],
    labels: dict[int, ClusterLabel],
) -> ItemHit:
    item: ContentItem = row.ContentItem  # type: ignore[attr-defined]
    source_name: str | None = row.name  # type: ignore[attr-defined]
    score = scores.get(item.id)
    task = tasks.get(item.id)
    case = cases.get(item.id)
    label = labels.get(item.id)
    return ItemHit(
        item_id=item.id,
        relevance=hit.relevance,
        highlights=hit.highlights,
        url=item.url,
        title=item.title,
        language=item.language,
        fetched_at=item.fetched_at,
        published_at=item.published_at,
        source_id=item.source_id,
        source_name=source_name,
        score=score.score if score else None,
        top_category=score.top_category if score else None,
        model_version=score.model_version if score else None,
        task_id=task.id if task else None,
        task_status=task.status if task else None,
        decision=task.decision if task else None,
        decided_category=task.decided_category if task else None,
        case_id=case.id if case else None,
        case_status=case.status if case else None,
        inherited_decision=label.verdict if label else None,
        inherited_category=label.category if label else None,
        inherited_from_task_id=label.task_id if label else None,
    )
