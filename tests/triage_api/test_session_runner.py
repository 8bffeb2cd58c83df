"""The hot endpoints' sessions (``deps.SessionRunner``): awaited on the event loop on PostgreSQL,
on a worker thread on SQLite; the same listeners, audit chaining and rollback either way."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from saqshy.context import Context
from saqshy.db.models import AuditEntry, ReviewTask, TaskStatus
from saqshy.db.session import is_sqlite, make_async_session_factory, make_session_factory
from tests.triage_api.triage_factories import make_tasks
from triage_api.deps import SessionRunner
from triage_api.services.audit import sequencer_for, verify_audit_chain


def test_claim_and_vote_decide_on_either_engine(any_client, any_ctx: Context, make_user,
                                                auth_headers) -> None:  # type: ignore[no-untyped-def]
    runner: SessionRunner = any_client.app.state.session_runner
    assert (runner.async_sessions is None) == is_sqlite(any_ctx.engine)
    if runner.async_sessions is not None:
        # the API's sequencer chains the entries of its async sessions too
        assert sequencer_for(runner.async_sessions.kw["bind"].sync_engine) is sequencer_for(any_ctx.engine)
        assert sequencer_for(any_ctx.engine) is not None
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
        assert verify_audit_chain(session, chain_first=True).ok


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


def test_async_sessions_share_the_sync_sessions_listeners(sql_engine: Engine) -> None:
    sessions = make_session_factory(sql_engine)
    async_sessions = make_async_session_factory(sql_engine, sessions, pool_size=2)
    if is_sqlite(sql_engine):
        assert async_sessions is None  # no async driver: the runner uses a worker thread
        return
    assert async_sessions is not None
    committed: list[Session] = []
    event.listen(sessions, "after_commit", committed.append)  # a listener on the session factory

    def work(session: Session) -> int:
        value = int(session.execute(text("SELECT 1")).scalar_one())
        session.commit()
        return value

    async def main() -> int:
        try:
            return await SessionRunner(sessions, async_sessions).run(work)
        finally:
            await async_sessions.kw["bind"].dispose()

    # A thread of its own: an earlier test's event loop (the browser tests') may still run on this one.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: asyncio.run(main())).result() == 1
    assert len(committed) == 1
