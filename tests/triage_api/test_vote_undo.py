"""Undo of one's own vote: only the voter, only within the window, only while the task is undecided;
audited, and the task is leased back to the voter (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from saqshy.db.models import AuditEntry, ReviewTask, Role, TaskStatus, Verdict, Vote, utcnow
from saqshy.errors import Conflict, InvalidTransition, NotFound
from tests.triage_api.triage_factories import claim_task, make_tasks
from triage_api.services import votes


def _claim_and_vote(ctx: Any, user: Any, verdict: Verdict = Verdict.LEGAL) -> tuple[int, int]:
    with ctx.sessions.begin() as session:
        voter = session.merge(user)
        task = claim_task(session, ctx.settings, voter)
        assert task is not None
        vote = votes.cast_vote(session, ctx.settings, voter, task.id, verdict=verdict, category=None, note="n")
        return task.id, vote.id


def _undo(ctx: Any, user: Any, vote_id: int) -> ReviewTask:
    with ctx.sessions.begin() as session:
        task = votes.undo_vote(session, ctx.settings, session.merge(user), vote_id)
        session.flush()
        session.expunge(task)
        return task


def test_undo_removes_the_vote_and_leases_the_task_back(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    first, second = make_tasks(any_ctx.sessions, 2, priority=2.0)
    volunteer = make_user()
    task_id, vote_id = _claim_and_vote(any_ctx, volunteer)
    with any_ctx.sessions.begin() as session:  # the UI claims the next item at once
        nxt = claim_task(session, any_ctx.settings, session.merge(volunteer))
        assert nxt is not None and nxt.id != task_id
        next_id = nxt.id
    task = _undo(any_ctx, volunteer, vote_id)
    assert (task.id, task.status, task.vote_count, task.lease_owner_id) == (task_id, TaskStatus.OPEN, 0, volunteer.id)
    with any_ctx.sessions() as session:
        assert session.get(Vote, vote_id) is None
        assert session.get(ReviewTask, next_id).lease_owner_id is None, "the next item went back to the queue"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "vote.undo")).one()
        assert (entry.actor_id, entry.entity_id, entry.payload["vote_id"]) == (volunteer.id, str(task_id), vote_id)
        # The voter may vote on it again (it is the task they hold).
        again = votes.cast_vote(session, any_ctx.settings, session.merge(volunteer), task_id, verdict=Verdict.ILLEGAL,
                                category="drugs", note=None)
        session.commit()
        assert again.task_id == task_id
    assert {first, second} == {task_id, next_id}


def test_undo_of_an_unsure_vote_takes_the_task_back_from_moderation(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    volunteer = make_user()
    task_id, vote_id = _claim_and_vote(any_ctx, volunteer, Verdict.UNSURE)
    with any_ctx.sessions() as session:
        assert session.get(ReviewTask, task_id).status == TaskStatus.NEEDS_MODERATOR
    assert _undo(any_ctx, volunteer, vote_id).status == TaskStatus.OPEN


def test_undo_after_consensus_is_refused(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    a, b = make_user(), make_user()
    task_id, vote_id = _claim_and_vote(any_ctx, a)
    _claim_and_vote(any_ctx, b)
    with pytest.raises(InvalidTransition, match="decided"):
        _undo(any_ctx, a, vote_id)
    with any_ctx.sessions() as session:
        assert session.get(Vote, vote_id) is not None
        assert session.get(ReviewTask, task_id).status == TaskStatus.DECIDED


def test_undo_of_someone_elses_vote_is_not_found(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    voter, other = make_user(), make_user()
    _, vote_id = _claim_and_vote(any_ctx, voter)
    with pytest.raises(NotFound):
        _undo(any_ctx, other, vote_id)
    with pytest.raises(NotFound):
        _undo(any_ctx, voter, vote_id + 1000)


def test_undo_after_the_window_is_refused(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    volunteer = make_user()
    _, vote_id = _claim_and_vote(any_ctx, volunteer)
    late = utcnow() - timedelta(seconds=any_ctx.settings.triage_vote_undo_seconds + 1)
    with any_ctx.sessions.begin() as session:
        session.execute(update(Vote).where(Vote.id == vote_id).values(created_at=late))
    with pytest.raises(InvalidTransition, match="no longer"):
        _undo(any_ctx, volunteer, vote_id)


def test_undo_while_another_reviewer_holds_the_task_is_refused(any_ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    voter, other = make_user(), make_user()
    task_id, vote_id = _claim_and_vote(any_ctx, voter)
    with any_ctx.sessions.begin() as session:
        assert claim_task(session, any_ctx.settings, session.merge(other)).id == task_id  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="another reviewer"):
        _undo(any_ctx, voter, vote_id)


def test_undo_api(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(ctx.sessions, 1)
    voter, other = make_user(), make_user()
    mine, theirs = auth_headers(voter), auth_headers(other)
    assert client.post("/tasks/claim", headers=mine).json()["id"] == task_id
    cast = client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=mine)
    assert cast.status_code == 201, cast.text
    assert cast.json()["undo_seconds"] == ctx.settings.triage_vote_undo_seconds
    vote_id = cast.json()["id"]
    assert client.post(f"/votes/{vote_id}/undo", headers=theirs).status_code == 404
    back = client.post(f"/votes/{vote_id}/undo", headers=mine)
    assert back.status_code == 200, back.text
    assert back.json()["id"] == task_id and back.json()["lease_expires_at"] is not None
    assert client.get("/votes/mine", headers=mine).json()["total"] == 0
    # Vote again; the second volunteer agrees: decided, so the undo is a clear 409.
    vote_id = client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=mine).json()["id"]
    assert client.post("/tasks/claim", headers=theirs).json()["id"] == task_id
    assert client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=theirs).status_code == 201
    refused = client.post(f"/votes/{vote_id}/undo", headers=mine)
    assert refused.status_code == 409
    assert "decided" in refused.json()["detail"]
    police = auth_headers(make_user(Role.POLICE))
    assert client.post(f"/votes/{vote_id}/undo", headers=police).status_code == 403
