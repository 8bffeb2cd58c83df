"""One's own decision, read back: the item as the queue showed it, one's vote and the task's outcome;
a volunteer opens only tasks they voted on (others are "not found"), staff any task."""

from __future__ import annotations

from typing import Any

from saqshy.db.models import ContentItem, ReviewTask, Role
from tests.triage_api.triage_factories import make_score, make_tasks


def _vote(client: Any, headers: dict[str, str], verdict: str, **fields: Any) -> int:
    claimed = client.post("/tasks/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    task_id: int = claimed.json()["id"]
    voted = client.post(f"/tasks/{task_id}/votes", json={"verdict": verdict, **fields}, headers=headers)
    assert voted.status_code == 201, voted.text
    return task_id


def _with_title_and_spans(ctx: Any, task_id: int) -> None:
    """Give the task's item a title and a score whose explanation spans the title and the text."""
    with ctx.sessions.begin() as session:
        item = session.get(ContentItem, session.get(ReviewTask, task_id).item_id)
        item.title, item.text = "Buy here", "Cheap pills, write now"
        score = make_score(session, item, {"drugs": 0.9})
        # Offsets over "title\ntext" as the classifier scores it: "Buy" in the title, "pills" in the text.
        score.explanation = [{"start": 0, "end": 3, "weight": 0.9}, {"start": 15, "end": 20, "weight": 0.5}]


def test_own_decision_shows_the_item_the_vote_and_the_outcome(any_client, any_ctx, make_user, auth_headers) -> None:
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    _with_title_and_spans(any_ctx, task_id)
    a, b = auth_headers(make_user()), auth_headers(make_user())
    _vote(any_client, a, "illegal", category="drugs", note="pills for sale")
    got = any_client.get(f"/votes/mine/{task_id}", headers=a)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["vote"]["verdict"] == "illegal" and body["vote"]["note"] == "pills for sale"
    assert body["vote"]["category"] == "drugs" and body["vote"]["created_at"]
    assert (body["task"]["id"], body["task"]["status"], body["task_decision"]) == (task_id, "open", None)
    item = body["task"]["item"]
    assert (item["title"], item["text"], item["url"]) == ("Buy here", "Cheap pills, write now", item["url"])
    # The same spans as the claim gave: per field, offsets into that field.
    spans = [(s["field"], s["start"], s["end"]) for s in body["task"]["score"]["explanation"]]
    assert spans == [("title", 0, 3), ("text", 6, 11)]
    assert "votes" not in body["task"], "never others' votes"

    _vote(any_client, b, "illegal", category="drugs")
    decided = any_client.get(f"/votes/mine/{task_id}", headers=a).json()
    assert (decided["task"]["status"], decided["task_decision"], decided["decided_category"]) == (
        "decided", "illegal", "drugs")
    assert decided["decided_at"]


def test_someone_elses_decision_is_not_found(any_client, any_ctx, make_user, auth_headers) -> None:
    voted_id, untouched_id = make_tasks(any_ctx.sessions, 2)
    voter, other = auth_headers(make_user()), auth_headers(make_user())
    assert _vote(any_client, voter, "legal") in {voted_id, untouched_id}
    voted = any_client.get("/votes/mine", headers=voter).json()["items"][0]["task_id"]
    theirs = any_client.get(f"/votes/mine/{voted}", headers=other)
    missing = any_client.get("/votes/mine/999999", headers=other)
    # The same answer for a task that exists and one that does not: ids cannot be probed.
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "task_not_found"
    # A task the volunteer holds but has not voted on is not a decision either.
    held = any_client.post("/tasks/claim", headers=other).json()["id"]
    assert any_client.get(f"/votes/mine/{held}", headers=other).status_code == 404


def test_staff_open_any_task_without_a_vote(any_client, any_ctx, make_user, auth_headers) -> None:
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    _vote(any_client, auth_headers(make_user()), "legal")
    for role in (Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER):
        got = any_client.get(f"/votes/mine/{task_id}", headers=auth_headers(make_user(role)))
        assert got.status_code == 200, (role, got.text)
        assert got.json()["vote"] is None and got.json()["task"]["id"] == task_id
    police = any_client.get(f"/votes/mine/{task_id}", headers=auth_headers(make_user(Role.POLICE)))
    assert police.status_code == 403


def test_unauthenticated_is_401(any_client, any_ctx) -> None:
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    assert any_client.get(f"/votes/mine/{task_id}").status_code == 401
