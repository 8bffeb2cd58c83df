"""The claim respects reviewer wellbeing (daily cap, opt-in, shift budgets) and skip memory;
the claim answer shows the item's source and its cluster size; /users/me shows gold accuracy."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from saqshy.context import Context
from saqshy.db.models import AuditEntry, ReviewTask, Role, Source, SourceKind, User, Verdict, Vote, utcnow
from tests.triage_api.triage_factories import claim_task, make_item, make_task
from triage_api.services import queue, wellbeing

Headers = Callable[[User], dict[str, str]]


def _claim(ctx: Context, user: User) -> ReviewTask | None:
    with ctx.sessions.begin() as session:
        task = claim_task(session, ctx.settings, session.get(User, user.id), rng=random.Random(0))  # type: ignore[arg-type]
        if task is not None:
            session.expunge(task)
        return task


def _set_wellbeing(ctx: Context, user: User, **prefs: object) -> None:
    with ctx.sessions.begin() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.preferences = {**(row.preferences or {}), wellbeing.PREFERENCES_KEY: prefs}


def _vote_on(ctx: Context, user: User, count: int, category: str) -> None:
    with ctx.sessions.begin() as session:
        for _ in range(count):
            task = make_task(session, category=category, priority=0.1)
            session.add(Vote(task_id=task.id, user_id=user.id, verdict=Verdict.LEGAL))


def test_daily_cap_reached_serves_nothing(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer = make_user()
    _vote_on(any_ctx, volunteer, 2, "fraud")
    with any_ctx.sessions.begin() as session:
        make_task(session, category="drugs", priority=3.0)
    _set_wellbeing(any_ctx, volunteer, daily_cap=2)
    assert _claim(any_ctx, volunteer) is None
    _set_wellbeing(any_ctx, volunteer, daily_cap=3)
    claimed = _claim(any_ctx, volunteer)
    assert claimed is not None and claimed.category == "drugs"


def test_distressing_categories_need_opt_in(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer = make_user()
    with any_ctx.sessions.begin() as session:
        suicide = make_task(session, category="suicide", priority=4.0).id
        drugs = make_task(session, category="drugs", priority=1.0).id
        uncategorised = make_task(session, category=None, priority=0.5).id  # type: ignore[arg-type]
    first = _claim(any_ctx, volunteer)
    assert first is not None and first.id == drugs  # the more urgent suicide task is not served
    with any_ctx.sessions.begin() as session:
        queue.release_lease(session, session.get(User, volunteer.id), drugs)  # type: ignore[arg-type]
        session.add(Vote(task_id=drugs, user_id=volunteer.id, verdict=Verdict.LEGAL))
    second = _claim(any_ctx, volunteer)
    assert second is not None and second.id == uncategorised  # no category: nothing to exclude it for
    with any_ctx.sessions.begin() as session:
        session.add(Vote(task_id=uncategorised, user_id=volunteer.id, verdict=Verdict.LEGAL))
        row = session.get(ReviewTask, uncategorised)
        assert row is not None
        row.lease_owner_id = row.lease_expires_at = None
    assert _claim(any_ctx, volunteer) is None
    _set_wellbeing(any_ctx, volunteer, opt_in=["suicide"])
    opted = _claim(any_ctx, volunteer)
    assert opted is not None and opted.id == suicide


def test_spent_shift_budget_serves_other_categories(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer, other = make_user(), make_user()
    _vote_on(any_ctx, volunteer, 2, "weapons")
    with any_ctx.sessions.begin() as session:
        weapons = make_task(session, category="weapons", priority=4.0).id
        fraud = make_task(session, category="fraud", priority=1.0).id
    _set_wellbeing(any_ctx, volunteer, budgets={"weapons": 2})
    claimed = _claim(any_ctx, volunteer)
    assert claimed is not None and claimed.id == fraud
    # Budgets are per reviewer: someone else still gets the urgent task.
    theirs = _claim(any_ctx, other)
    assert theirs is not None and theirs.id == weapons


def test_votes_before_the_shift_do_not_count(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer = make_user()
    _vote_on(any_ctx, volunteer, 2, "weapons")
    with any_ctx.sessions.begin() as session:
        for vote in session.scalars(select(Vote).where(Vote.user_id == volunteer.id)):
            vote.created_at = utcnow() - timedelta(hours=wellbeing.SHIFT_HOURS + 1)
        weapons = make_task(session, category="weapons", priority=4.0).id
    _set_wellbeing(any_ctx, volunteer, budgets={"weapons": 2})
    claimed = _claim(any_ctx, volunteer)
    assert claimed is not None and claimed.id == weapons


def test_skipped_task_is_not_served_again_to_that_reviewer(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer, other = make_user(), make_user()
    with any_ctx.sessions.begin() as session:
        urgent = make_task(session, priority=4.0).id
        later = make_task(session, priority=1.0).id
    assert (first := _claim(any_ctx, volunteer)) is not None and first.id == urgent
    with any_ctx.sessions.begin() as session:
        queue.release_lease(session, session.get(User, volunteer.id), urgent, skip=True)  # type: ignore[arg-type]
    assert (again := _claim(any_ctx, volunteer)) is not None and again.id == later
    assert (theirs := _claim(any_ctx, other)) is not None and theirs.id == urgent
    with any_ctx.sessions() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.release")).all()
        assert [entry.payload for entry in audit] == [{"skip": True}]


def test_a_plain_release_is_no_skip_and_skips_expire(any_ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer = make_user()
    with any_ctx.sessions.begin() as session:
        urgent = make_task(session, priority=4.0).id
        make_task(session, priority=1.0)
    _claim(any_ctx, volunteer)
    with any_ctx.sessions.begin() as session:
        queue.release_lease(session, session.get(User, volunteer.id), urgent)  # type: ignore[arg-type]
    assert (again := _claim(any_ctx, volunteer)) is not None and again.id == urgent
    with any_ctx.sessions.begin() as session:
        queue.release_lease(session, session.get(User, volunteer.id), urgent, skip=True)  # type: ignore[arg-type]
    with any_ctx.sessions.begin() as session:
        row = session.get(User, volunteer.id)
        assert row is not None and queue.skipped_task_ids(row) == {urgent}
        old = (utcnow() - timedelta(hours=queue.SKIP_HOURS, minutes=1)).isoformat()
        row.preferences = {**row.preferences,
                           queue.SKIPPED_KEY: {str(urgent): old, "x": "not a date", "7": "2026-01-01T00:00:00"}}
    with any_ctx.sessions() as session:
        row = session.get(User, volunteer.id)
        assert row is not None and queue.skipped_task_ids(row) == set()
    assert (back := _claim(any_ctx, volunteer)) is not None and back.id == urgent


def test_skip_through_the_api(client: TestClient, make_user: Callable[..., User], auth_headers: Headers,
                              ctx: Context) -> None:
    volunteer = auth_headers(make_user())
    with ctx.sessions.begin() as session:
        urgent = make_task(session, priority=4.0).id
        later = make_task(session, priority=1.0).id
    assert client.post("/tasks/claim", headers=volunteer).json()["id"] == urgent
    assert client.delete(f"/tasks/{urgent}/lease?skip=true", headers=volunteer).status_code == 204
    assert client.post("/tasks/claim", headers=volunteer).json()["id"] == later
    assert client.delete(f"/tasks/{later}/lease?skip=true", headers=volunteer).status_code == 204
    assert client.post("/tasks/claim", headers=volunteer).status_code == 204
    assert client.delete(f"/tasks/{later}/lease?skip=maybe", headers=volunteer).status_code == 422


def test_claim_shows_source_and_cluster_size(client: TestClient, make_user: Callable[..., User],
                                              auth_headers: Headers, ctx: Context) -> None:
    volunteer = auth_headers(make_user())
    with ctx.sessions.begin() as session:
        source = Source(name="news.example", url="https://news.example/", kind=SourceKind.SITE)
        session.add(source)
        session.flush()
        item = make_item(session, source_id=source.id, cluster_id=7)
        for _ in range(2):
            make_item(session, cluster_id=7)
        make_item(session, cluster_id=8)
        session.add(ReviewTask(item_id=item.id, cluster_id=7, category="drugs", score=0.9, priority=4.0, rank=4.0))
        lone = make_task(session, priority=1.0).id
    body = client.post("/tasks/claim", headers=volunteer).json()
    assert body["item"]["source"] == {"name": "news.example", "kind": "site"}
    assert body["duplicate_count"] == 2
    client.delete(f"/tasks/{body['id']}/lease?skip=true", headers=volunteer)
    body = client.post("/tasks/claim", headers=volunteer).json()
    assert body["id"] == lone and body["item"]["source"] is None and body["duplicate_count"] == 0


def test_claim_answers_204_once_the_daily_cap_is_reached(
    client: TestClient, make_user: Callable[..., User], auth_headers: Headers, ctx: Context
) -> None:
    volunteer, moderator = make_user(), make_user(Role.MODERATOR)
    with ctx.sessions.begin() as session:
        make_task(session, priority=1.0)
    response = client.put(f"/wellbeing/users/{volunteer.id}", json={"daily_cap": 1}, headers=auth_headers(moderator))
    assert response.status_code == 200
    _vote_on(ctx, volunteer, 1, "fraud")
    assert client.post("/tasks/claim", headers=auth_headers(volunteer)).status_code == 204


def test_me_shows_own_gold_accuracy(client: TestClient, make_user: Callable[..., User], auth_headers: Headers,
                                    ctx: Context) -> None:
    volunteer = make_user()
    headers = auth_headers(volunteer)
    body = client.get("/users/me", headers=headers).json()
    assert (body["gold_votes"], body["accuracy"]) == (0, None)
    with ctx.sessions.begin() as session:
        for answer in (Verdict.LEGAL, Verdict.ILLEGAL):
            task = make_task(session, is_gold=True, gold_verdict=Verdict.LEGAL)
            session.add(Vote(task_id=task.id, user_id=volunteer.id, verdict=answer,
                             category="drugs" if answer == Verdict.ILLEGAL else None))
    body = client.get("/users/me", headers=headers).json()
    assert (body["gold_votes"], body["gold_correct"], body["accuracy"]) == (2, 1, 0.5)


def test_own_preferences_cannot_lift_the_daily_cap_or_skips(
    client: TestClient, make_user: Callable[..., User], auth_headers: Headers, ctx: Context
) -> None:
    volunteer = make_user()
    headers = auth_headers(volunteer)
    _set_wellbeing(ctx, volunteer, daily_cap=1)
    for owned in (wellbeing.PREFERENCES_KEY, queue.SKIPPED_KEY):
        response = client.patch("/users/me", json={"preferences": {owned: {}}}, headers=headers)
        assert response.status_code == 422, owned
    assert client.patch("/users/me", json={"preferences": {"theme": "dark"}}, headers=headers).status_code == 200
    with ctx.sessions() as session:
        row = session.get(User, volunteer.id)
        assert row is not None
        assert row.preferences == {"theme": "dark", wellbeing.PREFERENCES_KEY: {"daily_cap": 1}}


def test_counts_are_read_only_when_they_can_exclude_something() -> None:
    """The claim skips the counts query for a reviewer with no cap and no budget that applies."""
    matter = wellbeing._counts_matter
    assert not matter({}) and not matter({"opt_in": []})
    assert matter({"daily_cap": 5})
    assert matter({"opt_in": ["suicide"]})  # served now, within its shift budget
    assert matter({"budgets": {"weapons": 2}})
    assert not matter({"budgets": {"suicide": 5}})  # not opted in: never served, whatever the count
    assert not matter({"opt_in": ["suicide"], "budgets": {"suicide": None}})
