"""The queue: tasks from scores, priority with ageing, clusters, exploration, leases."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select, text, update

from saqshy.db.models import ReviewTask, Role, Score, TaskStatus, Verdict, Vote, utcnow
from tests.triage_api.triage_factories import claim_task, make_item, make_score, make_task, make_tasks
from triage_api.services import queue


def _sync(ctx, **update_settings):  # type: ignore[no-untyped-def]
    settings = ctx.settings.model_copy(update=update_settings)
    with ctx.sessions.begin() as session:
        return queue.sync_tasks_from_scores(session, settings, rng=random.Random(7))


def test_only_scores_over_their_threshold_become_tasks(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        over = make_item(session)
        make_score(session, over, {"drugs": 0.9, "fraud": 0.1})
        under = make_item(session)
        make_score(session, under, {"drugs": 0.2, "fraud": 0.3})
    result = _sync(ctx)
    assert (result.created, result.below_threshold, result.exploration) == (1, 1, 0)
    with ctx.sessions() as session:
        task = session.execute(select(ReviewTask)).scalar_one()
        assert task.item_id == over.id and task.category == "drugs"
        assert task.priority == 0.9 * 4  # critical weighs 4
        assert all(s.triaged_at is not None for s in session.execute(select(Score)).scalars())
    assert _sync(ctx).scores_seen == 0  # idempotent


def test_priority_is_score_times_severity(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        gambling = make_item(session)  # medium: weight 2
        make_score(session, gambling, {"gambling": 0.95})
        drugs = make_item(session)  # critical: weight 4
        make_score(session, drugs, {"drugs": 0.6})
    _sync(ctx)
    with ctx.sessions() as session:
        rows = session.execute(select(ReviewTask).order_by(ReviewTask.rank.desc())).scalars().all()
        assert [t.item_id for t in rows] == [drugs.id, gambling.id]


def test_ageing_lets_old_low_priority_tasks_through(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    volunteer = make_user()
    with ctx.sessions.begin() as session:
        old = make_item(session)
        make_score(session, old, {"gambling": 0.7})  # priority 1.4
        new = make_item(session)
        make_score(session, new, {"drugs": 1.0})  # priority 4.0
    _sync(ctx)
    with ctx.sessions.begin() as session:
        old_task = session.execute(select(ReviewTask).where(ReviewTask.item_id == old.id)).scalar_one()
        # Ten hours older: 1.4 + 0.5 * 10 > 4.0
        old_task.created_at = utcnow() - timedelta(hours=10)
        old_task.rank = queue.compute_rank(ctx.settings, old_task.priority, old_task.created_at)
    with ctx.sessions.begin() as session:
        claimed = claim_task(session, ctx.settings, session.merge(volunteer), rng=random.Random(0))
        assert claimed is not None and claimed.item_id == old.id


def test_a_near_duplicate_cluster_is_one_task(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        items = [make_item(session, cluster_id=42) for _ in range(3)]
        for item in items:
            make_score(session, item, {"fraud": 0.8})
    result = _sync(ctx)
    assert result.created == 1 and result.folded_into_cluster == 2
    with ctx.sessions.begin() as session:
        late = make_item(session, cluster_id=42)
        make_score(session, late, {"drugs": 0.99})  # a stronger signal raises the cluster's task
    _sync(ctx)
    with ctx.sessions() as session:
        task = session.execute(select(ReviewTask)).scalar_one()
        assert task.duplicate_count == 3 and task.category == "drugs"


def test_exploration_share_of_tasks(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        for i in range(400):
            item = make_item(session)
            make_score(session, item, {"fraud": 0.9 if i % 2 else 0.05 + (i % 40) / 100})
    totals = [0, 0]
    for _ in range(4):
        result = _sync(ctx, triage_exploration_share=0.05, triage_sync_batch_size=100)
        totals[0] += result.created
        totals[1] += result.exploration
    share = totals[1] / (totals[0] + totals[1])
    assert totals[0] == 200
    assert 0.02 <= share <= 0.09
    with ctx.sessions() as session:
        explore = session.execute(select(ReviewTask).where(ReviewTask.is_exploration.is_(True))).scalars().all()
        # Half are the most uncertain (closest to the 0.5 threshold).
        assert max(t.score for t in explore) >= 0.4


def test_exploration_and_gold_lanes_are_served_by_share(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    volunteer = make_user()
    with ctx.sessions.begin() as session:
        for _ in range(30):
            make_task(session, priority=3.0)
        for _ in range(30):
            make_task(session, priority=0.1, is_exploration=True)
    settings = ctx.settings.model_copy(update={"triage_exploration_share": 0.2, "triage_lease_seconds": 600})
    rng = random.Random(3)
    explored = 0
    for _ in range(40):
        with ctx.sessions.begin() as session:
            task = claim_task(session, settings, session.merge(volunteer), rng=rng)
            assert task is not None
            explored += task.is_exploration
            session.add(Vote(task_id=task.id, user_id=volunteer.id, verdict=Verdict.LEGAL))
            task.lease_owner_id = None
            task.lease_expires_at = None
    assert 3 <= explored <= 16


def test_claim_is_exclusive_and_idempotent_per_volunteer(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    a, b = make_user(), make_user()
    make_tasks(ctx.sessions, 2)
    with ctx.sessions.begin() as session:
        first = claim_task(session, ctx.settings, session.merge(a))
        again = claim_task(session, ctx.settings, session.merge(a))
        assert first is not None and again is not None and first.id == again.id
        other = claim_task(session, ctx.settings, session.merge(b))
        assert other is not None and other.id != first.id
    c = make_user()
    with ctx.sessions.begin() as session:
        assert claim_task(session, ctx.settings, session.merge(c)) is None


def test_expired_lease_returns_the_task_to_the_queue(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    a, b = make_user(), make_user()
    (task_id,) = make_tasks(ctx.sessions, 1)
    with ctx.sessions.begin() as session:
        claim_task(session, ctx.settings, session.merge(a))
    with ctx.sessions.begin() as session:
        assert claim_task(session, ctx.settings, session.merge(b)) is None
        session.execute(update(ReviewTask).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    with ctx.sessions.begin() as session:
        task = claim_task(session, ctx.settings, session.merge(b))
        assert task is not None and task.id == task_id and task.lease_owner_id == b.id


def test_never_a_task_the_volunteer_voted_on(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    volunteer = make_user()
    (task_id,) = make_tasks(ctx.sessions, 1)
    with ctx.sessions.begin() as session:
        session.add(Vote(task_id=task_id, user_id=volunteer.id, verdict=Verdict.UNSURE))
    with ctx.sessions.begin() as session:
        assert claim_task(session, ctx.settings, session.merge(volunteer)) is None


def test_lease_extend_release_over_http(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    a, b = make_user(), make_user()
    ha, hb = auth_headers(a), auth_headers(b)
    (task_id,) = make_tasks(ctx.sessions, 1)
    claimed = client.post("/tasks/claim", headers=ha)
    assert claimed.status_code == 200 and claimed.json()["id"] == task_id
    assert "votes" not in claimed.json() and "is_gold" not in claimed.json()
    assert client.post("/tasks/claim", headers=hb).status_code == 204
    assert client.post(f"/tasks/{task_id}/lease", json={"seconds": 60}, headers=hb).status_code == 409
    extended = client.post(f"/tasks/{task_id}/lease", json={"seconds": 1200}, headers=ha)
    assert extended.status_code == 200
    assert client.post(f"/tasks/{task_id}/lease", json={"seconds": 10**6}, headers=ha).status_code == 422
    assert client.get(f"/tasks/{task_id}", headers=hb).status_code == 404  # not theirs: invisible
    assert client.delete(f"/tasks/{task_id}/lease", headers=ha).status_code == 204
    assert client.post("/tasks/claim", headers=hb).json()["id"] == task_id
    assert client.delete(f"/tasks/{task_id}/lease", headers=ha).status_code == 409


def test_sync_endpoint_and_task_list(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        make_score(session, make_item(session), {"weapons": 0.9})
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    assert client.post("/tasks/sync", headers=ml).json()["created"] == 1
    listed = client.get("/tasks", params={"status": "open", "category": "weapons"}, headers=ml).json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == TaskStatus.OPEN
    assert client.get("/tasks", params={"category": "nonsense"}, headers=ml).status_code == 422


def test_threshold_change_applies_to_new_scores_and_is_audited(client, make_user, auth_headers, ctx
                                                               ) -> None:  # type: ignore[no-untyped-def]
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    listed = {t["category"]: t for t in client.get("/moderation/thresholds", headers=ml).json()}
    assert listed["fraud"]["threshold"] == listed["fraud"]["default"] == 0.5
    assert client.put("/moderation/thresholds/fraud", json={"threshold": 1.5}, headers=ml).status_code == 422
    assert client.put("/moderation/thresholds/nonsense", json={"threshold": 0.3}, headers=ml).status_code == 422
    changed = client.put("/moderation/thresholds/fraud", json={"threshold": 0.3}, headers=ml)
    assert changed.status_code == 200 and changed.json()["threshold"] == 0.3
    volunteer = auth_headers(make_user())
    assert client.put("/moderation/thresholds/fraud", json={"threshold": 0.9}, headers=volunteer).status_code == 403
    with ctx.sessions.begin() as session:
        make_score(session, make_item(session), {"fraud": 0.35})
    assert _sync(ctx).created == 1
    from saqshy.db.models import AuditEntry

    with ctx.sessions() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "threshold.change")).scalar_one()
        assert entry.payload == {"from": 0.5, "to": 0.3} and entry.entity_id == "fraud"


def test_sync_and_lease_expiry_jobs(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    settings = ctx.settings.model_copy(update={"triage_sync_batch_size": 2})
    ctx.settings = settings
    with ctx.sessions.begin() as session:
        for _ in range(5):
            make_score(session, make_item(session), {"drugs": 0.9})
    assert queue.sync_tasks_job(ctx) == 5
    volunteer = make_user()
    with ctx.sessions.begin() as session:
        claim_task(session, settings, session.merge(volunteer))
        session.execute(update(ReviewTask).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert queue.expire_leases_job(ctx) == 5  # every task got a lapsed expiry above
    with ctx.sessions() as session:
        assert session.execute(select(ReviewTask).where(ReviewTask.lease_owner_id.is_not(None))).first() is None


def test_a_lapsed_lease_is_lost_even_when_nobody_claimed_again(any_client, app_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    """Expiry returns the task to the queue: a late vote, extension or release is a 409 and changes nothing."""
    volunteer = make_user()
    headers = auth_headers(volunteer)
    (task_id,) = make_tasks(app_ctx.sessions, 1)
    assert any_client.post("/tasks/claim", headers=headers).json()["id"] == task_id
    with app_ctx.sessions.begin() as session:
        session.execute(update(ReviewTask).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    late = any_client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=headers)
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert any_client.post(f"/tasks/{task_id}/lease", headers=headers).status_code == 409
    assert any_client.delete(f"/tasks/{task_id}/lease", headers=headers).status_code == 409
    with app_ctx.sessions() as session:
        assert session.execute(select(Vote).where(Vote.task_id == task_id)).first() is None
        assert session.get(ReviewTask, task_id).vote_count == 0  # type: ignore[union-attr]
    # Claiming again gives the task back (it is still the most urgent), and the vote then counts.
    assert any_client.post("/tasks/claim", headers=headers).json()["id"] == task_id
    assert any_client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=headers).status_code == 201


def test_a_large_sync_refreshes_the_planner_statistics(any_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL, a sync that creates many tasks analyses review_tasks (the claim's plan needs it)."""
    postgres = any_ctx.engine.dialect.name == "postgresql"

    def analysed_count() -> int:
        with any_ctx.engine.connect() as connection:
            return int(connection.execute(
                text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'review_tasks'")
            ).scalar_one())

    before = analysed_count() if postgres else 0
    monkeypatch.setattr(queue, "ANALYZE_AFTER_TASKS", 3)
    with any_ctx.sessions.begin() as session:
        for _ in range(3):
            make_score(session, make_item(session), {"drugs": 0.9})
    assert queue.sync_tasks_job(any_ctx) == 3
    if postgres:
        assert analysed_count() == before + 1


def test_claim_answer_shows_the_item_its_source_and_latest_score(any_client, any_ctx, make_user, auth_headers
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    from saqshy.db.models import Source, SourceKind

    with any_ctx.sessions.begin() as session:
        source = Source(name="channel-under-review", url="https://t.me/s/example", kind=SourceKind.TELEGRAM)
        session.add(source)
        session.flush()
        item = make_item(session, source_id=source.id)
        older = make_score(session, item, {"drugs": 0.7}, model_version="m-old")
        older.created_at = utcnow() - timedelta(hours=1)
        make_score(session, item, {"drugs": 0.9, "fraud": 0.2}, model_version="m-new")
        session.add(ReviewTask(item_id=item.id, category="drugs", score=0.9, priority=3.6, rank=3.6,
                               status=TaskStatus.OPEN, created_at=utcnow(), version=0, vote_count=0,
                               duplicate_count=0))
        item_id, item_url = item.id, item.url
    headers = auth_headers(make_user())
    first = any_client.post("/tasks/claim", headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["item"]["id"] == item_id and body["item"]["url"] == item_url
    assert body["item"]["source"] == {"name": "channel-under-review", "kind": "telegram"}
    assert body["score"]["model_version"] == "m-new" and body["score"]["probabilities"]["drugs"] == 0.9
    assert body["lease_expires_at"] is not None and body["duplicate_count"] == 0
    # Claiming again answers the task already held, the same way.
    again = any_client.post("/tasks/claim", headers=headers).json()
    assert again == body
