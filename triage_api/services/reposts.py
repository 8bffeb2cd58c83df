"""A near-duplicate cluster's decision labels every member, and reposts after it are never silent.

The queue folds near-duplicates into one task per cluster. When that task is decided,
``label_cluster`` writes a ``ClusterLabel`` (status ``inherited``) for every other member without
a task of its own; a member that arrives later (``record_repost``, called by the queue's sync
where it folds the item) gets one with status ``pending`` and is listed for moderators, who
``acknowledge`` it (the decision holds) or ``reopen`` it (a task of its own, reviewed afresh).
When the decided task is in a case, each labelled item joins it (``case_id`` and a frozen
``item_snapshot``), so the police see the repost beside the original.

Lifecycle of a repost::

    pending ──acknowledge──▶ acknowledged
       ╰────────reopen────────────╰──reopen──▶ reopened (its own open task)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from saqshy.db.models import (
    Case,
    ClusterLabel,
    ClusterLabelStatus,
    ContentItem,
    ReviewTask,
    Source,
    TaskStatus,
    utcnow,
)
from saqshy.errors import Conflict, ErrorCode, InvalidTransition, NotFound
from saqshy.services.items import mark_for_reindex
from saqshy.settings import Settings
from triage_api.services import evidence
from triage_api.services.audit import append_audit
from triage_api.services.auth import Actor


@dataclass(frozen=True)
class Repost:
    """A repost as moderators see it: the new item, and the decision it inherited."""

    label: ClusterLabel
    url: str
    source_name: str | None
    fetched_at: datetime
    language: str
    title: str | None
    original_item_id: int
    original_url: str
    decided_at: datetime | None


def _case_of(session: Session, task_id: int) -> Case | None:
    return session.scalars(select(Case).where(Case.task_id == task_id)).one_or_none()


def _label(task: ReviewTask, item: ContentItem, case: Case | None, *, repost: bool) -> ClusterLabel:
    assert task.decision is not None
    return ClusterLabel(
        item_id=item.id, task_id=task.id, verdict=task.decision, category=task.decided_category,
        is_repost=repost, status=ClusterLabelStatus.PENDING if repost else ClusterLabelStatus.INHERITED,
        case_id=case.id if case is not None else None,
        item_snapshot=evidence.item_snapshot(item) if case is not None else {}, created_at=utcnow(),
    )


def _audit_case_member(session: Session, case: Case, item: ContentItem, *, repost: bool) -> None:
    append_audit(session, actor_id=None, action="case.member_added", entity_type="case", entity_id=case.id,
                 payload={"item_id": item.id, "item_sha256": item.sha256, "text_sha256": item.text_sha256,
                          "repost": repost})


def label_cluster(session: Session, task: ReviewTask) -> list[int]:
    """After ``task`` is decided: its cluster's other members inherit the decision (ids labelled).

    Idempotent; members with a task of their own keep their own decision.
    """
    if task.status != TaskStatus.DECIDED or task.decision is None:
        return []
    if task.cluster_id is None:  # the queue's cluster, as its fold finds the task
        return []
    members = list(session.scalars(
        select(ContentItem)
        .where(ContentItem.cluster_id == task.cluster_id, ContentItem.id != task.item_id,
               ~exists().where(ReviewTask.item_id == ContentItem.id),
               ~exists().where(ClusterLabel.item_id == ContentItem.id))
        .order_by(ContentItem.id)
    ))
    if not members:
        return []
    case = _case_of(session, task.id)
    for item in members:
        session.add(_label(task, item, case, repost=False))
        if case is not None:
            _audit_case_member(session, case, item, repost=False)
    ids = [item.id for item in members]
    append_audit(session, actor_id=None, action="cluster.labelled", entity_type="review_task", entity_id=task.id,
                 payload={"item_ids": ids, "verdict": task.decision.value, "category": task.decided_category,
                          "case_id": case.id if case is not None else None})
    mark_for_reindex(session, ids)
    return ids


def record_repost(session: Session, task: ReviewTask, item: ContentItem) -> ClusterLabel | None:
    """``item`` joined ``task``'s cluster after the task was decided: label it and list it for
    moderators (and add it to the task's case). None when the item is labelled already (a re-score)."""
    if task.status != TaskStatus.DECIDED or task.decision is None:
        return None
    session.flush()
    if session.scalar(select(ClusterLabel.id).where(ClusterLabel.item_id == item.id)) is not None:
        return None
    case = _case_of(session, task.id)
    label = _label(task, item, case, repost=True)
    try:
        # A savepoint: two syncs of the same item's scores (PostgreSQL) leave one label, not a failed batch.
        with session.begin_nested():
            session.add(label)
            session.flush()
    except IntegrityError:
        return None
    append_audit(session, actor_id=None, action="repost.labelled", entity_type="cluster_label", entity_id=label.id,
                 payload={"item_id": item.id, "task_id": task.id, "verdict": label.verdict.value,
                          "category": label.category, "case_id": label.case_id})
    if case is not None:
        _audit_case_member(session, case, item, repost=True)
    return label


# --- Moderators ---------------------------------------------------------------------------------


def _reposts_query(
    status: ClusterLabelStatus | None,
) -> Select[ClusterLabel, str, str, datetime, str, str | None, int, str, datetime | None]:
    original = aliased(ContentItem)
    query = (
        select(ClusterLabel, ContentItem.url, Source.name, ContentItem.fetched_at, ContentItem.language,
               ContentItem.title, ReviewTask.item_id, original.url, ReviewTask.decided_at)
        .join(ContentItem, ContentItem.id == ClusterLabel.item_id)
        .join(ReviewTask, ReviewTask.id == ClusterLabel.task_id)
        .join(original, original.id == ReviewTask.item_id)
        .outerjoin(Source, Source.id == ContentItem.source_id)
        .where(ClusterLabel.is_repost.is_(True))
    )
    return query.where(ClusterLabel.status == status) if status is not None else query


def list_reposts(
    session: Session, *, status: ClusterLabelStatus | None = ClusterLabelStatus.PENDING, offset: int = 0,
    limit: int = 50,
) -> tuple[list[Repost], int]:
    """Reposts of decided items, newest first (by default those waiting for a moderator)."""
    counted = select(func.count()).select_from(ClusterLabel).where(ClusterLabel.is_repost.is_(True))
    if status is not None:
        counted = counted.where(ClusterLabel.status == status)
    total = int(session.scalar(counted) or 0)
    rows = session.execute(
        _reposts_query(status).order_by(ClusterLabel.created_at.desc(), ClusterLabel.id.desc())
        .offset(offset).limit(limit)
    ).all()
    return [Repost(*row) for row in rows], total


def get_repost(session: Session, label_id: int) -> Repost:
    row = session.execute(_reposts_query(None).where(ClusterLabel.id == label_id)).one_or_none()
    if row is None:
        raise NotFound(f"repost {label_id} not found", code=ErrorCode.REPOST_NOT_FOUND, params={"id": label_id})
    return Repost(*row)


def _lock_repost(session: Session, label_id: int) -> ClusterLabel:
    label = session.scalars(
        select(ClusterLabel).where(ClusterLabel.id == label_id, ClusterLabel.is_repost.is_(True)).with_for_update()
    ).one_or_none()
    if label is None:
        raise NotFound(f"repost {label_id} not found", code=ErrorCode.REPOST_NOT_FOUND, params={"id": label_id})
    return label


def _refuse(label: ClusterLabel) -> InvalidTransition:
    return InvalidTransition(f"repost {label.id} is already {label.status.value}", code=ErrorCode.REPOST_ALREADY,
                             params={"id": label.id, "status": label.status.value})


def acknowledge(session: Session, moderator: Actor, label_id: int) -> ClusterLabel:
    """The moderator agrees the cluster's decision holds for the repost (only a pending one)."""
    label = _lock_repost(session, label_id)
    if label.status != ClusterLabelStatus.PENDING:
        raise _refuse(label)
    label.status = ClusterLabelStatus.ACKNOWLEDGED
    label.reviewed_by_id, label.reviewed_at = moderator.id, utcnow()
    append_audit(session, actor_id=moderator.id, action="repost.acknowledge", entity_type="cluster_label",
                 entity_id=label.id, payload={"item_id": label.item_id, "task_id": label.task_id,
                                              "verdict": label.verdict.value})
    return label


def reopen(session: Session, settings: Settings, moderator: Actor, label_id: int) -> ClusterLabel:
    """The repost is reviewed afresh on a task of its own; its own decision then outranks the label."""
    # The queue builds the task (its ranking), and the queue's sync calls this module.
    from triage_api.services import queue

    label = _lock_repost(session, label_id)
    if label.status == ClusterLabelStatus.REOPENED:
        raise _refuse(label)
    if session.scalar(select(ReviewTask.id).where(ReviewTask.item_id == label.item_id)) is not None:
        raise Conflict(f"item {label.item_id} already has a task", code=ErrorCode.REPOST_HAS_TASK,
                       params={"id": label.id})
    task = queue.task_for_reopened_item(session, settings, label.item_id, label.category)
    label.status = ClusterLabelStatus.REOPENED
    label.reviewed_by_id, label.reviewed_at, label.reopened_task_id = moderator.id, utcnow(), task.id
    append_audit(session, actor_id=moderator.id, action="repost.reopen", entity_type="cluster_label",
                 entity_id=label.id, payload={"item_id": label.item_id, "task_id": label.task_id,
                                              "new_task_id": task.id, "verdict": label.verdict.value})
    mark_for_reindex(session, [label.item_id])
    return label


def labels_of(session: Session, item_ids: list[int]) -> dict[int, ClusterLabel]:
    """Each item's cluster label, for those that have one."""
    if not item_ids:
        return {}
    return {label.item_id: label
            for label in session.scalars(select(ClusterLabel).where(ClusterLabel.item_id.in_(item_ids)))}


def case_members(session: Session, case_id: int) -> list[ClusterLabel]:
    """The items attached to a case besides its own: the cluster's members and later reposts."""
    return list(session.scalars(select(ClusterLabel).where(ClusterLabel.case_id == case_id).order_by(ClusterLabel.id)))
