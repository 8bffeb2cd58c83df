"""Claim and vote on either engine: the same audit chaining and rollback."""

from __future__ import annotations

from sqlalchemy import func, select

from saqshy.context import Context
from saqshy.db.models import AuditEntry, ReviewTask, TaskStatus
from tests.triage_api.triage_factories import make_tasks
from triage_api.services.audit import chain_pending, verify_audit_chain


def test_claim_and_vote_decide_on_either_engine(any_client, any_ctx: Context, make_user,
                                                auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    for _ in range(2):  # the default rule: two agreeing votes decide
        headers = auth_headers(make_user())
        claimed = any_client.post("/tasks/claim", headers=headers)
        assert claimed.status_code == 200 and claimed.json()["id"] == task_id
        voted = any_client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=headers)
        assert voted.status_code == 201 and voted.json()["task_id"] == task_id
    with any_ctx.sessions() as session:
        task = session.get(ReviewTask, task_id)
        assert task is not None and task.status == TaskStatus.DECIDED and task.vote_count == 2
        actions = session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        assert actions.count("task.claim") == 2 and actions.count("vote.cast") == 2 and "task.decide" in actions
        chain_pending(session)
        session.commit()
        assert verify_audit_chain(session).ok


def test_a_failed_request_changes_nothing(any_client, any_ctx: Context, make_user,
                                          auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    holder, other = auth_headers(make_user()), auth_headers(make_user())
    assert any_client.post("/tasks/claim", headers=holder).status_code == 200
    with any_ctx.sessions() as session:
        entries = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    lost = any_client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=other)
    assert lost.status_code == 409
    with any_ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == entries
        assert session.get(ReviewTask, task_id).vote_count == 0  # type: ignore[union-attr]
