"""Blind votes: the leaseholder votes; nobody sees others' votes before voting."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy.orm import Session

from saqshy.db.models import Role, User
from triage_api.deps import Caller, SessionDep, SessionRunnerDep, caller_with_roles, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page, json_response
from triage_api.schemas.votes import MyVote, VoteCreate, VotePublic
from triage_api.services import votes

router = APIRouter(tags=["votes"])

Reviewer = Annotated[User, Depends(require_roles(Role.VOLUNTEER, Role.MODERATOR))]
# Voting is the queue's hot path: its caller is resolved in the endpoint's session (deps.Caller,
# deps.SessionRunner).
ReviewerCaller = Annotated[Caller, Depends(caller_with_roles(Role.VOLUNTEER, Role.MODERATOR))]


@router.post(
    "/tasks/{task_id}/votes",
    response_model=VotePublic,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "No such task."},
               409: {"description": "Already voted, lease lost, or the task is closed."}},
)
async def cast_vote(task_id: IdPath, body: VoteCreate, caller: ReviewerCaller, runner: SessionRunnerDep) -> Response:
    """Volunteer, moderator holding the task's lease: illegal / legal / unsure, a category, a note."""
    return await runner.run(partial(_cast_vote, task_id, body, caller))


def _cast_vote(task_id: int, body: VoteCreate, caller: Caller, session: Session) -> Response:
    user = caller.user(session)
    vote = votes.cast_vote(session, caller.settings, user, task_id, verdict=body.verdict, category=body.category,
                           note=body.note)
    result = json_response(VotePublic.model_validate(vote), status.HTTP_201_CREATED)
    # Commit before answering: the task's new state and the audit entry are stored before the response.
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
