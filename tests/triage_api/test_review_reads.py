"""The review loop's read model: every endpoint shows a task the same way, from typed views."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from saqshy.db.models import ContentItem, ReviewTask, Role, Source, SourceKind, TaskStatus, utcnow
from tests.triage_api.triage_factories import make_item, make_score, make_tasks
from triage_api.services import queue, review_reads


def _seed_reviewable(session: Any) -> tuple[int, int]:
    """A task whose item has a source, two scores and a distinct value in every column a reviewer sees."""
    source = Source(name="review-reads-source", url="https://example.org/", kind=SourceKind.FEED)
    session.add(source)
    session.flush()
    item = make_item(session, source_id=source.id, author="someone", published_at=utcnow() - timedelta(days=2),
                     cluster_id=7)
    older = make_score(session, item, {"drugs": 0.4}, model_version="m-old")
    older.created_at = utcnow() - timedelta(hours=1)
    newest = make_score(session, item, {"drugs": 0.9, "fraud": 0.3}, model_version="m-new")
    newest.explanation = [{"field": "text", "start": 0, "end": 3, "weight": 0.5}]
    task = ReviewTask(item_id=item.id, category="drugs", score=0.9, priority=3.6, rank=3.6, status=TaskStatus.OPEN,
                      created_at=utcnow(), version=4, vote_count=0, duplicate_count=0)
    session.add(task)
    session.flush()
    return task.id, item.id


def test_a_review_view_holds_the_stored_values_of_task_item_source_and_latest_score(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        task_id, item_id = _seed_reviewable(session)
    with ctx.sessions() as session:
        view = review_reads.review_of_task(session, task_id)
        task = session.get(ReviewTask, task_id)
        item = session.get(ContentItem, item_id)
        assert task is not None and item is not None and item.source is not None
        assert (view.task_id, view.category, view.status, view.version, view.lease_owner_id,
                view.lease_expires_at) == (task.id, task.category, task.status, task.version, task.lease_owner_id,
                                           task.lease_expires_at)
        assert view.item == review_reads.ItemView(
            item.id, item.url, item.title, item.text, item.language, item.author, item.published_at,
            item.fetched_at, item.cluster_id, review_reads.SourceView(item.source.name, item.source.kind))
        assert view.score == review_reads.latest_score(session, item_id)
        assert view.score is not None and view.score.model_version == "m-new"
        assert view.score.explanation == [{"field": "text", "start": 0, "end": 3, "weight": 0.5}]


def test_an_item_without_source_or_score_is_shown_without_them(ctx) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(ctx.sessions, 1)
    with ctx.sessions() as session:
        view = review_reads.review_of_task(session, task_id)
        assert view.item.source is None and view.score is None


def test_the_claim_the_task_read_and_my_decision_show_the_task_alike(client, ctx, make_user, auth_headers
                                                                     ) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        task_id, _ = _seed_reviewable(session)
    headers = auth_headers(make_user())
    claimed = client.post("/tasks/claim", headers=headers).json()
    assert claimed["id"] == task_id
    assert client.get(f"/tasks/{task_id}", headers=headers).json() == claimed
    vote = client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=headers).json()
    decision = client.get(f"/votes/mine/{task_id}", headers=headers).json()["task"]
    assert decision == {**claimed, "lease_expires_at": None}
    undone = client.post(f"/votes/{vote['id']}/undo", headers=headers).json()
    assert {**undone, "lease_expires_at": None} == decision and undone["lease_expires_at"] is not None


def test_a_claim_tells_a_task_the_session_holds_its_new_lease(ctx, make_user) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(ctx.sessions, 1)
    volunteer = make_user(Role.VOLUNTEER)
    with ctx.sessions.begin() as session:
        held = session.get(ReviewTask, task_id)
        assert held is not None and held.lease_owner_id is None
        claimed = queue.claim(session, ctx.settings, session.merge(volunteer))
        assert claimed is not None and claimed.task_id == task_id
        assert (held.lease_owner_id, held.lease_expires_at, held.version) == (
            volunteer.id, claimed.lease_expires_at, claimed.version)
