"""The review queue: claim the next task, hold or release its lease, list tasks, sync from scores."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from saqshy.db.models import Role, TaskStatus
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page, json_response
from triage_api.schemas.convert import task_for_review, task_public
from triage_api.schemas.tasks import AvailablePublic, LeaseExtend, LeasePublic, SyncPublic, TaskForReview, TaskPublic
from triage_api.services import queue
from triage_api.services.auth import Actor

router = APIRouter(prefix="/tasks", tags=["tasks"])

Reviewer = Annotated[Actor, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR))]
Staff = Annotated[Actor, Depends(require_roles(Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER))]
Operator = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.ML_ENGINEER))]

LEASE_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "No such task."},
                409: {"description": "You do not hold the lease (it expired and was claimed), or the task is closed."}}


@router.post("/claim", response_model=TaskForReview, responses={204: {"description": "The queue is empty for you."}})
def claim_next(
    user: Reviewer, session: SessionDep, settings: SettingsDep,
    category: Annotated[str | None, Query(max_length=64, description="Only tasks of this category")] = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,8}$", description="Only items in this language")] = None,
) -> Response:
    """Volunteer, moderator: lease the most urgent task you have not voted on (the one you hold, if any),
    optionally of one category and/or language."""
    claimed = queue.claim(session, settings, user, only=queue.ClaimFilter(category=category, language=language))
    if claimed is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    result = json_response(task_for_review(session, claimed))
    # Commit before answering: the lease and its audit entry are released before the response.
    session.commit()
    return result


@router.get("/available", response_model=AvailablePublic)
def available(
    user: Reviewer, session: SessionDep,
    category: Annotated[str | None, Query(max_length=64, description="Only tasks of this category")] = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,8}$", description="Only items in this language")] = None,
) -> AvailablePublic:
    """Volunteer, moderator: how many tasks a claim could still give you now, within the same filter."""
    return AvailablePublic(available=queue.available(session, user, queue.ClaimFilter(category, language)))


@router.get("", response_model=Page[TaskPublic])
def list_tasks(
    user: Staff, session: SessionDep, settings: SettingsDep, offset: OffsetParam = 0, limit: LimitParam = 50,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    is_gold: Annotated[bool | None, Query()] = None,
) -> Page[TaskPublic]:
    """Moderator, admin, ML engineer: tasks in claim order."""
    rows, total = queue.list_tasks(session, status=status_, category=category, is_gold=is_gold,
                                   offset=offset, limit=limit)
    return Page(items=[task_public(settings, t) for t in rows], total=total, offset=offset, limit=limit)


@router.post("/sync", response_model=SyncPublic)
def sync_from_scores(user: Operator, session: SessionDep, settings: SettingsDep) -> SyncPublic:
    """Admin, ML engineer: turn new scores into tasks now (the scoring job does this after each batch)."""
    result = queue.sync_tasks_from_scores(session, settings)
    session.commit()
    return SyncPublic(**{k: getattr(result, k) for k in SyncPublic.model_fields})


@router.get("/{task_id}", response_model=TaskForReview, responses={404: LEASE_ERRORS[404]})
def read_task(task_id: IdPath, user: Reviewer, session: SessionDep) -> TaskForReview:
    """Volunteer (a task they hold or voted on), moderator (any): the item, without others' votes."""
    return task_for_review(session, queue.task_for_reviewer(session, user, task_id))


@router.post("/{task_id}/lease", response_model=LeasePublic, responses=LEASE_ERRORS)
def extend_lease(
    task_id: IdPath, user: Reviewer, session: SessionDep, settings: SettingsDep, body: LeaseExtend | None = None
) -> LeasePublic:
    """Volunteer, moderator: extend the lease you hold (by ``seconds``, default the lease length)."""
    task = queue.extend_lease(session, settings, user, task_id, body.seconds if body else None)
    assert task.lease_expires_at is not None
    result = LeasePublic(task_id=task.id, lease_expires_at=task.lease_expires_at)
    session.commit()
    return result


@router.delete("/{task_id}/lease", status_code=status.HTTP_204_NO_CONTENT, responses=LEASE_ERRORS)
def release_lease(
    task_id: IdPath, user: Reviewer, session: SessionDep,
    skip: Annotated[bool, Query(description="Skip: the task is not served to you again this shift")] = False,
) -> None:
    """Volunteer, moderator: give the task back to the queue without voting (``?skip=true``: and skip it)."""
    queue.release_lease(session, user, task_id, skip=skip)
    session.commit()
