"""Moderation: tasks without consensus, decisions, gold tasks, volunteers' accuracy, reposts of decided items."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select

from saqshy.db.models import CategoryThreshold, ClusterLabelStatus, Role, TaskStatus
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page
from triage_api.schemas.convert import repost_public, task_detail, task_public
from triage_api.schemas.reposts import RepostFilter, RepostPublic
from triage_api.schemas.tasks import TaskDetail, TaskPublic, ThresholdPublic, ThresholdUpdate
from triage_api.schemas.votes import GoldCreate, Resolution
from triage_api.services import queue, reposts, votes
from triage_api.services.auth import Actor

router = APIRouter(prefix="/moderation", tags=["moderation"])

Moderator = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN))]
Tuner = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER))]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such task."},
    409: {"description": "The task is not in a state that allows this."},
}


@router.get("/queue", response_model=Page[TaskPublic])
def moderation_queue(user: Moderator, session: SessionDep, settings: SettingsDep, offset: OffsetParam = 0,
                     limit: LimitParam = 50) -> Page[TaskPublic]:
    """Moderator, admin: tasks waiting for a moderator (disagreement or unsure)."""
    rows, total = queue.list_tasks(session, status=TaskStatus.NEEDS_MODERATOR, category=None, is_gold=None,
                                   offset=offset, limit=limit)
    return Page(items=[task_public(settings, t) for t in rows], total=total, offset=offset, limit=limit)


@router.get("/tasks/{task_id}", response_model=TaskDetail, responses=ERRORS)
def read_task(task_id: IdPath, user: Moderator, session: SessionDep, settings: SettingsDep) -> TaskDetail:
    """Moderator, admin: a task with every vote and each voter's gold accuracy."""
    return task_detail(session, settings, queue.get_task(session, task_id))


@router.post("/tasks/{task_id}/resolve", response_model=TaskPublic, responses=ERRORS)
def resolve(task_id: IdPath, body: Resolution, user: Moderator, session: SessionDep, settings: SettingsDep
            ) -> TaskPublic:
    """Moderator, admin: decide the task (illegal opens a case)."""
    task = votes.resolve(session, settings, user, task_id, verdict=body.verdict, category=body.category,
                         note=body.note)
    result = task_public(settings, task)
    session.commit()
    return result


@router.post("/tasks/{task_id}/gold", response_model=TaskPublic, responses=ERRORS)
def make_gold(task_id: IdPath, body: GoldCreate, user: Moderator, session: SessionDep, settings: SettingsDep
              ) -> TaskPublic:
    """Moderator, admin: give an undecided task a known answer; it then measures volunteers' accuracy."""
    result = task_public(settings, votes.make_gold(session, user, task_id, verdict=body.verdict,
                                                   category=body.category))
    session.commit()
    return result


def _thresholds(session: SessionDep) -> list[ThresholdPublic]:
    current = queue.thresholds(session)
    rows = {r.category: r for r in session.execute(select(CategoryThreshold)).scalars()}
    return [
        ThresholdPublic(
            category=c.name, threshold=current[c.name], default=c.threshold, severity=c.severity,
            updated_at=rows[c.name].updated_at if c.name in rows else None,
            updated_by_id=rows[c.name].updated_by_id if c.name in rows else None,
        )
        for c in queue.taxonomy()
    ]


@router.get("/thresholds", response_model=list[ThresholdPublic])
def list_thresholds(user: Tuner, session: SessionDep) -> list[ThresholdPublic]:
    """Moderator, admin, ML engineer: each category's threshold for becoming a task (and its default)."""
    return _thresholds(session)


@router.put("/thresholds/{category}", response_model=ThresholdPublic, responses=ERRORS)
def set_threshold(
    category: Annotated[str, Path(min_length=1, max_length=64)], body: ThresholdUpdate, user: Tuner,
    session: SessionDep,
) -> ThresholdPublic:
    """Moderator, admin, ML engineer: change a category's threshold (audited; applies to new scores)."""
    queue.set_threshold(session, user, category, body.threshold)
    session.flush()
    result = next(t for t in _thresholds(session) if t.category == category)
    session.commit()
    return result


@router.post("/items/{item_id}/gold", response_model=TaskPublic,
             responses={404: {"description": "No such item."},
                        409: {"description": "The item's task is already decided or cancelled."}})
def make_gold_from_item(item_id: IdPath, body: GoldCreate, user: Moderator, session: SessionDep,
                        settings: SettingsDep) -> TaskPublic:
    """Moderator, admin: a gold task from any stored item with a known answer (its open task, or a new one)."""
    task = votes.make_gold_from_item(session, settings, user, item_id, verdict=body.verdict, category=body.category)
    result = task_public(settings, task)
    session.commit()
    return result


REPOST_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such repost."},
    409: {"description": "The repost was already acknowledged or reopened, or its item already has a task."},
}


@router.get("/reposts", response_model=Page[RepostPublic])
def list_reposts(user: Moderator, session: SessionDep, status: RepostFilter = "pending", offset: OffsetParam = 0,
                 limit: LimitParam = 50) -> Page[RepostPublic]:
    """Moderator, admin: items that joined a decided near-duplicate cluster, labelled with its decision."""
    rows, total = reposts.list_reposts(session, status=None if status == "all" else ClusterLabelStatus(status),
                                       offset=offset, limit=limit)
    return Page(items=[repost_public(r) for r in rows], total=total, offset=offset, limit=limit)


@router.post("/reposts/{repost_id}/acknowledge", response_model=RepostPublic, responses=REPOST_ERRORS)
def acknowledge_repost(repost_id: IdPath, user: Moderator, session: SessionDep) -> RepostPublic:
    """Moderator, admin: the cluster's decision holds for the repost (audited)."""
    reposts.acknowledge(session, user, repost_id)
    result = repost_public(reposts.get_repost(session, repost_id))
    session.commit()
    return result


@router.post("/reposts/{repost_id}/reopen", response_model=RepostPublic, responses=REPOST_ERRORS)
def reopen_repost(repost_id: IdPath, user: Moderator, session: SessionDep, settings: SettingsDep) -> RepostPublic:
    """Moderator, admin: review the repost afresh on a task of its own (audited)."""
    reposts.reopen(session, settings, user, repost_id)
    result = repost_public(reposts.get_repost(session, repost_id))
    session.commit()
    return result
