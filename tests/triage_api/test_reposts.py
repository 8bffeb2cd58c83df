"""A decided near-duplicate cluster labels its members and every later repost; moderators see the reposts."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import select

from saqshy.db.models import (
    AuditEntry,
    Case,
    ClusterLabel,
    ClusterLabelStatus,
    ContentItem,
    ReviewTask,
    Role,
    TaskStatus,
    Verdict,
)
from saqshy.errors import InvalidTransition, NotFound
from tests.triage_api.triage_factories import make_item, make_score
from triage_api.services import evidence, queue, reposts

CLUSTER = 77


def _sync(ctx: Any) -> queue.SyncResult:
    with ctx.sessions.begin() as session:
        return queue.sync_tasks_from_scores(session, ctx.settings, rng=random.Random(7))


def _cluster_items(ctx: Any, count: int, probability: float = 0.9) -> list[int]:
    with ctx.sessions.begin() as session:
        items = [make_item(session, cluster_id=CLUSTER) for _ in range(count)]
        for item in items:
            make_score(session, item, {"drugs": probability})
        return [item.id for item in items]


def _vote(client: Any, headers: dict[str, str], verdict: str) -> int:
    task_id = client.post("/tasks/claim", headers=headers).json()["id"]
    assert client.post(f"/tasks/{task_id}/votes", json={"verdict": verdict}, headers=headers).status_code == 201
    return int(task_id)


def _decide_by_consensus(client: Any, make_user: Any, auth_headers: Any, verdict: str) -> int:
    task_ids = {_vote(client, auth_headers(make_user()), verdict) for _ in range(2)}
    (task_id,) = task_ids
    return task_id


def _actions(ctx: Any, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_a_decision_labels_the_clusters_members_and_attaches_them_to_the_case(
    client: Any, ctx: Any, make_user: Any, auth_headers: Any
) -> None:
    first, *others = _cluster_items(ctx, 3)
    assert _sync(ctx).folded_into_cluster == 2
    task_id = _decide_by_consensus(client, make_user, auth_headers, "illegal")
    with ctx.sessions() as session:
        task = session.get(ReviewTask, task_id)
        assert task is not None and task.item_id == first and task.decision == Verdict.ILLEGAL
        case = session.scalars(select(Case).where(Case.task_id == task_id)).one()
        labels = session.scalars(select(ClusterLabel).order_by(ClusterLabel.item_id)).all()
        assert [(lab.item_id, lab.status, lab.verdict, lab.category, lab.case_id, lab.is_repost) for lab in labels] == [
            (item_id, ClusterLabelStatus.INHERITED, Verdict.ILLEGAL, "drugs", case.id, False) for item_id in others]
        assert all(lab.item_snapshot["item_id"] == lab.item_id for lab in labels)
        # Members need no moderator: only reposts are listed.
        assert reposts.list_reposts(session)[1] == 0
        # The sealed bundle carries the members too.
        files, _ = evidence.bundle_files(session, case, ctx.settings)
        assert sorted(m["item_id"] for m in json.loads(files["members.json"])) == others
    assert [e.payload["item_ids"] for e in _actions(ctx, "cluster.labelled")] == [others]
    assert len(_actions(ctx, "case.member_added")) == 2


def test_a_repost_after_the_decision_is_labelled_listed_and_added_to_the_case(
    client: Any, ctx: Any, make_user: Any, auth_headers: Any
) -> None:
    _cluster_items(ctx, 1)
    _sync(ctx)
    task_id = _decide_by_consensus(client, make_user, auth_headers, "illegal")
    (repost_item,) = _cluster_items(ctx, 1)
    result = _sync(ctx)
    assert (result.created, result.folded_into_cluster, result.reposts) == (0, 1, 1)
    with ctx.sessions() as session:
        case = session.scalars(select(Case).where(Case.task_id == task_id)).one()
        rows, total = reposts.list_reposts(session)
        assert total == 1
        (repost,) = rows
        assert (repost.label.item_id, repost.label.task_id, repost.label.verdict, repost.label.status,
                repost.label.case_id) == (repost_item, task_id, Verdict.ILLEGAL, ClusterLabelStatus.PENDING, case.id)
        assert [m.item_id for m in reposts.case_members(session, case.id)] == [repost_item]
    assert [e.payload["item_id"] for e in _actions(ctx, "repost.labelled")] == [repost_item]
    assert _actions(ctx, "case.member_added")[-1].payload["repost"] is True
    # A new score of the same item (a new model) labels nothing twice.
    with ctx.sessions.begin() as session:
        item = session.get(ContentItem, repost_item)
        assert item is not None
        make_score(session, item, {"drugs": 0.95}, model_version="m2")
    assert _sync(ctx).reposts == 0
    with ctx.sessions() as session:
        assert reposts.list_reposts(session)[1] == 1


def test_a_moderator_acknowledges_or_reopens_a_repost_with_audit(
    client: Any, ctx: Any, make_user: Any, auth_headers: Any
) -> None:
    _cluster_items(ctx, 1)
    _sync(ctx)
    _decide_by_consensus(client, make_user, auth_headers, "legal")
    kept, reviewed = _cluster_items(ctx, 2)
    assert _sync(ctx).reposts == 2
    moderator = make_user(Role.MODERATOR)
    with ctx.sessions() as session:
        ids = {r.label.item_id: r.label.id for r in reposts.list_reposts(session)[0]}
        assert all(r.label.case_id is None for r in reposts.list_reposts(session)[0])  # legal: no case
    with ctx.sessions.begin() as session:
        label = reposts.acknowledge(session, moderator, ids[kept])
        assert label.status == ClusterLabelStatus.ACKNOWLEDGED and label.reviewed_by_id == moderator.id
        label = reposts.reopen(session, ctx.settings, moderator, ids[reviewed])
        new_task = session.get(ReviewTask, label.reopened_task_id)
        assert new_task is not None and new_task.item_id == reviewed and new_task.status == TaskStatus.OPEN
    # Bad transitions are refused and change nothing.
    with ctx.sessions.begin() as session:
        with pytest.raises(InvalidTransition):
            reposts.acknowledge(session, moderator, ids[kept])
        with pytest.raises(InvalidTransition):
            reposts.reopen(session, ctx.settings, moderator, ids[reviewed])
        with pytest.raises(NotFound):
            reposts.acknowledge(session, moderator, 999_999)
    with ctx.sessions() as session:
        assert reposts.list_reposts(session)[1] == 0
        assert {r.label.status for r in reposts.list_reposts(session, status=None)[0]} == {
            ClusterLabelStatus.ACKNOWLEDGED, ClusterLabelStatus.REOPENED}
        assert session.scalars(select(ReviewTask).where(ReviewTask.item_id == reviewed)).one().status == TaskStatus.OPEN
    assert [(e.actor_id, e.payload["item_id"]) for e in _actions(ctx, "repost.acknowledge")] == [(moderator.id, kept)]
    assert [(e.actor_id, e.payload["item_id"]) for e in _actions(ctx, "repost.reopen")] == [(moderator.id, reviewed)]


def test_a_moderators_resolution_labels_the_cluster_too(ctx: Any, make_user: Any) -> None:
    from triage_api.services import votes

    _, member = _cluster_items(ctx, 2)
    _sync(ctx)
    moderator = make_user(Role.MODERATOR)
    with ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask)).one()
        votes.resolve(session, ctx.settings, session.merge(moderator), task.id, verdict=Verdict.LEGAL, category=None,
                      note=None)
    with ctx.sessions() as session:
        label = session.scalars(select(ClusterLabel)).one()
        assert (label.item_id, label.verdict, label.status) == (member, Verdict.LEGAL, ClusterLabelStatus.INHERITED)


def test_items_before_a_decision_fold_silently_into_the_open_task(ctx: Any) -> None:
    _cluster_items(ctx, 1)
    _sync(ctx)
    _cluster_items(ctx, 1)
    result = _sync(ctx)
    assert (result.folded_into_cluster, result.reposts) == (1, 0)
    with ctx.sessions() as session:
        assert session.scalars(select(ClusterLabel)).first() is None


# --- API ------------------------------------------------------------------------------------------


def _one_repost(client: Any, ctx: Any, make_user: Any, auth_headers: Any) -> int:
    _cluster_items(ctx, 1)
    _sync(ctx)
    _decide_by_consensus(client, make_user, auth_headers, "illegal")
    _cluster_items(ctx, 1)
    _sync(ctx)
    with ctx.sessions() as session:
        return reposts.list_reposts(session)[0][0].label.id


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.POLICE, Role.ML_ENGINEER])
def test_only_moderators_and_admins_see_and_act_on_reposts(
    client: Any, ctx: Any, make_user: Any, auth_headers: Any, role: Role
) -> None:
    repost_id = _one_repost(client, ctx, make_user, auth_headers)
    headers = auth_headers(make_user(role))
    assert client.get("/moderation/reposts", headers=headers).status_code == 403
    for action in ("acknowledge", "reopen"):
        assert client.post(f"/moderation/reposts/{repost_id}/{action}", headers=headers).status_code == 403
    assert client.get("/moderation/reposts").status_code == 401
    with ctx.sessions() as session:
        assert session.get(ClusterLabel, repost_id).status == ClusterLabelStatus.PENDING  # type: ignore[union-attr]


def test_the_reposts_api(client: Any, ctx: Any, make_user: Any, auth_headers: Any) -> None:
    repost_id = _one_repost(client, ctx, make_user, auth_headers)
    for role in (Role.MODERATOR, Role.ADMIN):
        page = client.get("/moderation/reposts", headers=auth_headers(make_user(role))).json()
        assert page["total"] == 1
    headers = auth_headers(make_user(Role.MODERATOR))
    (row,) = client.get("/moderation/reposts", headers=headers).json()["items"]
    assert (row["id"], row["decision"], row["category"], row["status"]) == (repost_id, "illegal", "drugs", "pending")
    assert row["case_id"] is not None and row["url"].startswith("https://") and row["original_url"] != row["url"]
    assert client.get("/moderation/reposts", params={"status": "bogus"}, headers=headers).status_code == 422
    assert client.post("/moderation/reposts/999999/acknowledge", headers=headers).json()["code"] == "repost_not_found"
    done = client.post(f"/moderation/reposts/{repost_id}/acknowledge", headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    again = client.post(f"/moderation/reposts/{repost_id}/acknowledge", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "repost_already"
    assert client.get("/moderation/reposts", headers=headers).json()["total"] == 0
    assert client.get("/moderation/reposts", params={"status": "all"}, headers=headers).json()["total"] == 1
    # The police see the repost in the case.
    police = auth_headers(make_user(Role.POLICE))
    case = client.get(f"/cases/{row['case_id']}", headers=police).json()
    assert [(m["item_id"], m["repost"]) for m in case["members"]] == [(row["item_id"], True)]
    assert case["members"][0]["url"] == row["url"]


def test_search_shows_the_inherited_decision_on_the_item(
    client: Any, ctx: Any, make_user: Any, auth_headers: Any
) -> None:
    from saqshy.search.indexer import index_pending

    first, member = _cluster_items(ctx, 2)
    _sync(ctx)
    task_id = _decide_by_consensus(client, make_user, auth_headers, "legal")
    index_pending(ctx)
    hits = client.get("/search", params={"limit": 50}, headers=auth_headers(make_user(Role.MODERATOR))).json()["items"]
    by_item = {hit["item_id"]: hit for hit in hits}
    assert (by_item[member]["inherited_decision"], by_item[member]["inherited_from_task_id"]) == ("legal", task_id)
    assert by_item[member]["decision"] is None
    assert by_item[first]["inherited_decision"] is None and by_item[first]["decision"] == "legal"
