"""The review loop's read model: what a reviewer is shown of a task, as typed views from Core rows.

The claim, ``GET /tasks/{id}``, the undo of a vote and "my decision" all show a task the same way:
its columns, its item's, the item's source and the item's latest score, read as one joined Core row
(``_REVIEW_COLUMNS``) and returned as a ``ReviewView``; a score alone is a ``ScoreView``. Every claim
reads one, so no ORM entity is built for it. The statements that pick a claimable task live here
too, beside the columns they select; ``services/queue.py`` takes the lease.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Row, Select, Table, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from saqshy.db.models import ContentItem, ReviewTask, Score, Source, SourceKind, TaskStatus, Vote
from saqshy.db.session import flushed_connection
from saqshy.errors import ErrorCode, NotFound


class ScoreView(NamedTuple):
    """A score's public columns (what a reviewer sees, and what ranks a task)."""

    model_version: str
    probabilities: dict[str, Any]
    score: float
    top_category: str | None
    explanation: list[Any] | None


class SourceView(NamedTuple):
    name: str
    kind: SourceKind


class ItemView(NamedTuple):
    id: int
    url: str
    title: str | None
    text: str
    language: str
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    cluster_id: int | None
    source: SourceView | None


class ReviewView(NamedTuple):
    """A task as a reviewer is shown it (``schemas.TaskForReview``), with what its lease needs."""

    task_id: int
    category: str | None
    status: TaskStatus
    version: int
    lease_owner_id: int | None
    lease_expires_at: datetime | None
    item: ItemView
    score: ScoreView | None


_TASKS = cast(Table, ReviewTask.__table__)
_ITEMS = cast(Table, ContentItem.__table__)
_SOURCES = cast(Table, Source.__table__)
_SCORES = cast(Table, Score.__table__)
_NEWER_SCORES = _SCORES.alias("newer_scores")

# Each group's columns in its view's field order: ``_view`` slices the row by group.
_TASK_COLUMNS = (
    _TASKS.c.id, _TASKS.c.category, _TASKS.c.status, _TASKS.c.version, _TASKS.c.lease_owner_id,
    _TASKS.c.lease_expires_at,
)
_ITEM_COLUMNS = (
    _ITEMS.c.id.label("item_id"), _ITEMS.c.url, _ITEMS.c.title, _ITEMS.c.text, _ITEMS.c.language,
    _ITEMS.c.author, _ITEMS.c.published_at, _ITEMS.c.fetched_at, _ITEMS.c.cluster_id,
)
_SOURCE_COLUMNS = (_SOURCES.c.name.label("source_name"), _SOURCES.c.kind.label("source_kind"))
_SCORE_COLUMNS = (
    _SCORES.c.model_version.label("score_model_version"), _SCORES.c.probabilities.label("score_probabilities"),
    _SCORES.c.score.label("score_score"), _SCORES.c.top_category.label("score_top_category"),
    _SCORES.c.explanation.label("score_explanation"),
)
_ITEM_AT = len(_TASK_COLUMNS)
_SOURCE_AT = _ITEM_AT + len(_ITEM_COLUMNS)
_SCORE_AT = _SOURCE_AT + len(_SOURCE_COLUMNS)
_REVIEW_COLUMNS = _TASK_COLUMNS + _ITEM_COLUMNS + _SOURCE_COLUMNS + _SCORE_COLUMNS

# The item's latest score (as ``_LATEST_SCORE``): a score of the item with no newer one. A join on
# the item's scores (indexed by item) with an anti-join, not a join on a subquery's id, which the
# planner may evaluate against every score.
_IS_LATEST_SCORE = and_(
    _SCORES.c.item_id == _ITEMS.c.id,
    ~exists().where(
        _NEWER_SCORES.c.item_id == _SCORES.c.item_id,
        or_(_NEWER_SCORES.c.created_at > _SCORES.c.created_at,
            and_(_NEWER_SCORES.c.created_at == _SCORES.c.created_at, _NEWER_SCORES.c.id > _SCORES.c.id)),
    ),
)
_REVIEW_FROM = (
    _TASKS.join(_ITEMS, _ITEMS.c.id == _TASKS.c.item_id)
    .outerjoin(_SOURCES, _SOURCES.c.id == _ITEMS.c.source_id)
    .outerjoin(_SCORES, _IS_LATEST_SCORE)
)

# The review loop runs these on every request of a reviewer: built once, with bind parameters, so
# SQLAlchemy neither rebuilds them nor recomputes their cache keys per call.
_REVIEW_OF_TASK: Select[Any] = select(*_REVIEW_COLUMNS).select_from(_REVIEW_FROM).where(
    _TASKS.c.id == bindparam("task_id"))
# The task the user holds, if any (a volunteer rarely does when claiming).
_HELD_TASK: Select[Any] = (
    select(*_REVIEW_COLUMNS)
    .select_from(_REVIEW_FROM)
    .where(
        _TASKS.c.lease_owner_id == bindparam("user_id"),
        _TASKS.c.lease_expires_at > bindparam("now"),
        _TASKS.c.status == TaskStatus.OPEN,
    )
    .limit(1)
)
_LATEST_SCORE: Select[Any] = (
    select(*_SCORE_COLUMNS).where(_SCORES.c.item_id == bindparam("item_id"))
    .order_by(_SCORES.c.created_at.desc(), _SCORES.c.id.desc()).limit(1)
)

_LANES: dict[str, ColumnElement[bool]] = {
    "gold": ReviewTask.is_gold.is_(True),
    "exploration": ReviewTask.is_gold.is_(False) & ReviewTask.is_exploration.is_(True),
    "regular": ReviewTask.is_gold.is_(False) & ReviewTask.is_exploration.is_(False),
}


def _view(row: Row[Any]) -> ReviewView:
    source_name, source_kind = row[_SOURCE_AT:_SCORE_AT]
    source = None if source_name is None else SourceView(source_name, source_kind)
    score = None if row[_SCORE_AT] is None else ScoreView._make(row[_SCORE_AT:])
    item = ItemView._make((*row[_ITEM_AT:_SOURCE_AT], source))
    return ReviewView._make((*row[:_ITEM_AT], item, score))


def review_of_task(session: Session, task_id: int) -> ReviewView:
    """The task as a reviewer is shown it (NotFound when there is no such task)."""
    row = flushed_connection(session).execute(_REVIEW_OF_TASK, {"task_id": task_id}).first()
    if row is None:
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    return _view(row)


def held_task(session: Session, user_id: int, now: datetime) -> ReviewView | None:
    """The open task whose live lease the user holds, if any."""
    row = flushed_connection(session).execute(_HELD_TASK, {"user_id": user_id, "now": now}).first()
    return None if row is None else _view(row)


def latest_score(session: Session, item_id: int) -> ScoreView | None:
    """The item's latest score (scores are never changed once written, so a plain row will do)."""
    row = flushed_connection(session).execute(_LATEST_SCORE, {"item_id": item_id}).first()
    return None if row is None else ScoreView._make(row)


# --- What a claim may take ------------------------------------------------------------------------


def _claimable(excluding: bool, skipping: bool, by_category: bool, by_language: bool) -> list[ColumnElement[bool]]:
    """Open, free, not voted on by ``:user_id``, and within the reviewer's filters: what a claim may take."""
    conditions: list[ColumnElement[bool]] = [
        ReviewTask.status == TaskStatus.OPEN,
        or_(ReviewTask.lease_expires_at.is_(None), ReviewTask.lease_expires_at <= bindparam("now")),
        ~exists().where(Vote.task_id == ReviewTask.id, Vote.user_id == bindparam("user_id")),
    ]
    if excluding:
        conditions.append(or_(ReviewTask.category.is_(None),
                              ReviewTask.category.not_in(bindparam("excluded", expanding=True))))
    if skipping:
        conditions.append(ReviewTask.id.not_in(bindparam("skipped", expanding=True)))
    if by_category:
        conditions.append(ReviewTask.category == bindparam("category"))
    if by_language:
        conditions.append(_ITEMS.c.language == bindparam("language"))
    return conditions


def _claim_shape(params: dict[str, Any]) -> tuple[bool, bool, bool, bool]:
    """Which optional conditions the claim's parameters call for (one cached statement per shape)."""
    return ("excluded" in params, "skipped" in params, "category" in params, "language" in params)


@functools.cache
def _claim_statement(
    lane: str | None, excluding: bool, skipping: bool, by_category: bool, by_language: bool
) -> Select[Any]:
    """The most urgent claimable task in ``lane``, its row locked, as a reviewer is shown it."""
    conditions = _claimable(excluding, skipping, by_category, by_language)
    if lane is not None:
        conditions.append(_LANES[lane])
    return (
        select(*_REVIEW_COLUMNS)
        .select_from(_REVIEW_FROM)
        .where(*conditions)
        .order_by(ReviewTask.rank.desc())
        .limit(1)
        .with_for_update(skip_locked=True, of=_TASKS)
    )


@functools.cache
def _available_statement(excluding: bool, skipping: bool, by_category: bool, by_language: bool) -> Select[Any]:
    return (select(func.count()).select_from(_TASKS.join(_ITEMS, _ITEMS.c.id == _TASKS.c.item_id))
            .where(*_claimable(excluding, skipping, by_category, by_language)))


def next_claimable(session: Session, lane: str | None, params: dict[str, Any]) -> ReviewView | None:
    """The most urgent task in ``lane`` (None: any) that a claim with ``params`` may take, its row
    locked until the transaction ends (on SQLite the whole database already is)."""
    statement = _claim_statement(lane, *_claim_shape(params))
    row = session.connection().execute(statement, params).first()
    return None if row is None else _view(row)


def count_claimable(session: Session, params: dict[str, Any]) -> int:
    """How many tasks a claim with ``params`` could take now."""
    statement = _available_statement(*_claim_shape(params))
    return int(session.connection().execute(statement, params).scalar_one())


def expire_task(session: Session, task_id: int, columns: list[str]) -> None:
    """After a Core UPDATE of a task: a ``ReviewTask`` the session already holds reloads those columns
    when next read, so it never shows the old values (and a task it does not hold costs nothing)."""
    held = session.identity_map.get(identity_key(ReviewTask, task_id))
    if held is not None:
        session.expire(held, columns)
