"""Blind votes: the leaseholder votes; nobody sees others' votes before voting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from saqshy.db.models import Role
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page, json_response
from triage_api.schemas.convert import my_decision, task_for_review
from triage_api.schemas.tasks import TaskForReview
from triage_api.schemas.votes import MyDecision, MyVote, VoteCast, VoteCreate, VotePublic
from triage_api.services import review_reads, votes
from triage_api.services.auth import Actor

router = APIRouter(tags=["votes"])

Reviewer = Annotated[Actor, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR))]
# Volunteers open the tasks they voted on; staff who can list tasks may open any.
DecisionReader = Annotated[Actor, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER))]


@router.post(
    "/tasks/{task_id}/votes",
    response_model=VoteCast,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "No such task."},
               409: {"description": "Already voted, lease lost, or the task is closed."}},
)
def cast_vote(
    task_id: IdPath, body: VoteCreate, user: Reviewer, session: SessionDep, settings: SettingsDep
) -> Response:
    """Volunteer, moderator holding the task's lease: illegal / legal / unsure, a category, a note."""
    vote = votes.cast_vote(session, settings, user, task_id, verdict=body.verdict, category=body.category,
                           note=body.note)
    cast = VoteCast(id=vote.id, task_id=vote.task_id, verdict=vote.verdict, category=vote.category, note=vote.note,
                    created_at=vote.created_at, undo_seconds=settings.triage_vote_undo_seconds)
    result = json_response(cast, status.HTTP_201_CREATED)
    # Commit before answering: the task's new state and the audit entry are stored before the response.
    session.commit()
    return result


@router.post(
    "/votes/{vote_id}/undo",
    response_model=TaskForReview,
    responses={404: {"description": "No such vote of yours."},
               409: {"description": "Too late: the undo window passed, the task was decided, or another "
                                    "reviewer holds it now."}},
)
def undo_vote(vote_id: IdPath, user: Reviewer, session: SessionDep, settings: SettingsDep) -> TaskForReview:
    """Volunteer, moderator: take back your own vote within ``triage_vote_undo_seconds`` while the task is
    undecided; the task is leased back to you (any other task you hold goes back to the queue)."""
    task = votes.undo_vote(session, settings, user, vote_id)
    result = task_for_review(session, review_reads.review_of_task(session, task.id))
    session.commit()
    return result


@router.get("/votes/mine", response_model=Page[MyVote])
def my_votes(user: Reviewer, session: SessionDep, offset: OffsetParam = 0, limit: LimitParam = 50) -> Page[MyVote]:
    """Volunteer, moderator: your own votes, newest first, with how each task ended."""
    rows, total = votes.my_votes(session, user, offset=offset, limit=limit)
    items = [
        MyVote.model_validate({**VotePublic.model_validate(v).model_dump(), "task_status": t.status,
                               "task_decision": t.decision})
        for v, t in rows
    ]
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/votes/mine/{task_id}", response_model=MyDecision,
            responses={404: {"description": "No such task among those you voted on."}})
def my_decision_of_task(task_id: IdPath, user: DecisionReader, session: SessionDep) -> MyDecision:
    """Volunteer (a task they voted on), moderator, admin, ML engineer (any): the item as the queue
    showed it, your own vote on it, and how the task stands now; never others' votes."""
    task, vote = votes.my_decision(session, user, task_id)
    return my_decision(session, task, vote)
