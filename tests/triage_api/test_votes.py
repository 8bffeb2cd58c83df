"""Blind votes and consensus (SQLite and PostgreSQL), moderation, gold tasks and accuracy."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from saqshy.db.models import AuditEntry, Case, ReviewTask, Role, TaskStatus, Verdict, Vote
from tests.triage_api.triage_factories import make_tasks
from triage_api.services.votes import Ballot, evaluate


def _claim_and_vote(client, headers, verdict, category=None, note=None):  # type: ignore[no-untyped-def]
    claimed = client.post("/tasks/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    task_id = claimed.json()["id"]
    body = {"verdict": verdict, **({"category": category} if category else {}), **({"note": note} if note else {})}
    voted = client.post(f"/tasks/{task_id}/votes", json=body, headers=headers)
    assert voted.status_code == 201, voted.text
    return task_id


def _task(ctx, task_id):  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        return session.get(ReviewTask, task_id)


def test_two_agreeing_votes_decide(any_client, any_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    a, b = (auth_headers(make_user()) for _ in range(2))
    assert _claim_and_vote(any_client, a, "legal") == task_id
    assert _task(any_ctx, task_id).status == TaskStatus.OPEN
    assert _claim_and_vote(any_client, b, "legal", note="news report") == task_id
    task = _task(any_ctx, task_id)
    assert (task.status, task.decision, task.vote_count) == (TaskStatus.DECIDED, Verdict.LEGAL, 2)


def test_illegal_consensus_opens_a_case(any_client, any_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    a, b = (auth_headers(make_user()) for _ in range(2))
    _claim_and_vote(any_client, a, "illegal")  # category defaults to the task's (drugs)
    _claim_and_vote(any_client, b, "illegal", "drugs")
    task = _task(any_ctx, task_id)
    assert (task.decision, task.decided_category) == (Verdict.ILLEGAL, "drugs")
    with any_ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Case).where(Case.task_id == task_id)).scalar_one() == 1


@pytest.mark.parametrize("second", [("legal", None), ("unsure", None), ("illegal", "fraud")])
def test_disagreement_or_unsure_goes_to_a_moderator(any_client, any_ctx, make_user, auth_headers, second
                                                     ) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    a, b = (auth_headers(make_user()) for _ in range(2))
    _claim_and_vote(any_client, a, "illegal", "drugs")
    _claim_and_vote(any_client, b, *second)
    assert _task(any_ctx, task_id).status == TaskStatus.NEEDS_MODERATOR
    moderator = make_user(Role.MODERATOR)
    mh = auth_headers(moderator)
    queue = any_client.get("/moderation/queue", headers=mh).json()
    assert [t["id"] for t in queue["items"]] == [task_id]
    detail = any_client.get(f"/moderation/tasks/{task_id}", headers=mh).json()
    assert len(detail["votes"]) == 2 and detail["votes"][0]["voter_accuracy"] is None
    resolved = any_client.post(f"/moderation/tasks/{task_id}/resolve", json={"verdict": "illegal", "category": "drugs"},
                               headers=mh)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["decided_by_id"] == moderator.id and resolved.json()["status"] == "decided"
    again = any_client.post(f"/moderation/tasks/{task_id}/resolve", json={"verdict": "legal"}, headers=mh)
    assert again.status_code == 409


def test_votes_are_blind_and_single(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(ctx.sessions, 1)
    a_user = make_user()
    a, b = auth_headers(a_user), auth_headers(make_user())
    _claim_and_vote(client, a, "illegal", "drugs", note="secret reasoning")
    claimed = client.post("/tasks/claim", headers=b).json()
    assert claimed["id"] == task_id
    text = str(claimed)
    assert "secret reasoning" not in text and "illegal" not in text and "vote" not in text
    # The first voter cannot vote again, nor hold the task again.
    assert client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=a).status_code == 409
    # Volunteers cannot read the moderator view.
    assert client.get(f"/moderation/tasks/{task_id}", headers=b).status_code == 403
    mine = client.get("/votes/mine", headers=a).json()
    assert mine["total"] == 1 and mine["items"][0]["note"] == "secret reasoning"


def test_vote_needs_the_lease(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(ctx.sessions, 1)
    a, b = auth_headers(make_user()), auth_headers(make_user())
    client.post("/tasks/claim", headers=a)
    lost = client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"}, headers=b)
    assert lost.status_code == 409 and "lease" in lost.json()["detail"]
    assert client.post("/tasks/999999/votes", json={"verdict": "legal"}, headers=b).status_code == 404
    bad = client.post(f"/tasks/{task_id}/votes", json={"verdict": "illegal", "category": "jaywalking"}, headers=a)
    assert bad.status_code == 422 and "unknown category" in bad.json()["detail"]
    with ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Vote)).scalar_one() == 0


def test_consensus_rule_is_configurable() -> None:
    from saqshy.settings import Settings

    base = Settings(_env_file=None)  # type: ignore[call-arg]
    three = base.model_copy(update={"triage_votes_needed": 3, "triage_max_votes": 5})
    legal, illegal = Ballot(Verdict.LEGAL, None), Ballot(Verdict.ILLEGAL, "drugs")
    assert evaluate([legal, legal], base).decision == Verdict.LEGAL
    assert evaluate([legal, legal], three).decision is None
    assert evaluate([legal, illegal, legal, legal], three).decision == Verdict.LEGAL
    assert evaluate([legal, illegal] * 2 + [Ballot(Verdict.ILLEGAL, "fraud")], three).to_moderator
    no_unsure = base.model_copy(update={"triage_unsure_to_moderator": False, "triage_max_votes": 3})
    assert evaluate([Ballot(Verdict.UNSURE, None), legal], no_unsure).decision is None
    assert evaluate([Ballot(Verdict.UNSURE, None), legal, legal], no_unsure).decision == Verdict.LEGAL
    weighted = base.model_copy(update={"triage_weight_by_accuracy": True})
    assert evaluate([Ballot(Verdict.LEGAL, None, 1.5), Ballot(Verdict.LEGAL, None, 0.6)], weighted).decision
    assert evaluate([Ballot(Verdict.LEGAL, None, 0.9), Ballot(Verdict.LEGAL, None, 0.6)], weighted).to_moderator


def test_gold_tasks_measure_accuracy_and_can_weight_votes(client, ctx, make_user, auth_headers, settings
                                                          ) -> None:  # type: ignore[no-untyped-def]
    gold_ids = make_tasks(ctx.sessions, 4, priority=9.0)
    moderator = auth_headers(make_user(Role.MODERATOR))
    for task_id in gold_ids:
        made = client.post(f"/moderation/tasks/{task_id}/gold", json={"verdict": "illegal", "category": "drugs"},
                           headers=moderator)
        assert made.status_code == 200 and made.json()["is_gold"]
    good_user, poor_user = make_user(), make_user()
    good, poor = auth_headers(good_user), auth_headers(poor_user)
    for _ in gold_ids:
        _claim_and_vote(client, good, "illegal", "drugs")
    for i, _ in enumerate(gold_ids):
        _claim_and_vote(client, poor, "legal" if i else "illegal", "drugs" if not i else None)
    with ctx.sessions() as session:
        assert all(session.get(ReviewTask, t).status == TaskStatus.OPEN for t in gold_ids)  # never decided
    people = {u["id"]: u for u in client.get("/users", params={"role": "volunteer"}, headers=moderator).json()["items"]}
    assert people[good_user.id]["accuracy"] == 1.0 and people[poor_user.id]["accuracy"] == 0.25
    # With weighting on, the accurate volunteer's vote weighs more.
    from triage_api.services.votes import vote_weight

    weighted = settings.model_copy(update={"triage_weight_by_accuracy": True})
    with ctx.sessions() as session:
        assert vote_weight(session, weighted, good_user.id) > 1.0 > vote_weight(session, weighted, poor_user.id)


def test_every_state_change_is_audited(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    make_tasks(ctx.sessions, 1)
    a, b = auth_headers(make_user()), auth_headers(make_user())
    _claim_and_vote(client, a, "legal")
    _claim_and_vote(client, b, "legal")
    with ctx.sessions() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions[-5:] == ["task.claim", "vote.cast", "task.claim", "vote.cast", "task.decide"]
    admin = auth_headers(make_user(Role.ADMIN))
    verified = client.get("/audit/verify", headers=admin).json()
    assert verified["ok"] and verified["entries"] == len(actions) + 1  # + the admin's creation
    assert client.get("/audit", params={"entity_type": "review_task"}, headers=admin).json()["total"] == 5


def test_gold_from_an_existing_item(any_client, any_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    """A moderator plants gold from any stored item: a new task, or the item's undecided one; never a decided one."""
    from tests.triage_api.triage_factories import make_item, make_score, make_task

    moderator = auth_headers(make_user(Role.MODERATOR))
    with any_ctx.sessions.begin() as session:
        fresh = make_item(session)  # never became a task (below threshold, say)
        make_score(session, fresh, {"drugs": 0.2})
        open_task = make_task(session)
        decided = make_task(session, status=TaskStatus.DECIDED, decision=Verdict.LEGAL)
        ids = (fresh.id, open_task.item_id, decided.item_id, open_task.id)
    fresh_id, open_item_id, decided_item_id, open_task_id = ids

    made = any_client.post(f"/moderation/items/{fresh_id}/gold", json={"verdict": "illegal", "category": "drugs"},
                           headers=moderator)
    assert made.status_code == 200, made.text
    assert made.json()["is_gold"] and made.json()["status"] == "open"
    again = any_client.post(f"/moderation/items/{open_item_id}/gold", json={"verdict": "legal"}, headers=moderator)
    assert again.status_code == 200 and again.json()["id"] == open_task_id and again.json()["is_gold"]
    assert any_client.post(f"/moderation/items/{decided_item_id}/gold", json={"verdict": "legal"},
                           headers=moderator).status_code == 409
    assert any_client.post("/moderation/items/999999/gold", json={"verdict": "legal"},
                           headers=moderator).status_code == 404
    assert any_client.post(f"/moderation/items/{fresh_id}/gold", json={"verdict": "unsure"},
                           headers=moderator).status_code == 422
    volunteer = auth_headers(make_user())
    assert any_client.post(f"/moderation/items/{fresh_id}/gold", json={"verdict": "legal"},
                           headers=volunteer).status_code == 403
    with any_ctx.sessions() as session:
        task = session.execute(select(ReviewTask).where(ReviewTask.item_id == fresh_id)).scalar_one()
        assert task.gold_verdict == Verdict.ILLEGAL and task.gold_category == "drugs" and task.vote_count == 0
        actions = session.execute(select(AuditEntry.action).where(AuditEntry.entity_id == str(task.id))).scalars()
        assert list(actions) == ["task.gold"]
    # The new gold task is served like any other and never decided.
    volunteer_task = any_client.post("/tasks/claim", headers=volunteer).json()["id"]
    assert volunteer_task in (task.id, open_task_id)
