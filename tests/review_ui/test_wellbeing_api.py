"""Reviewer wellbeing settings: opt-in, break interval, daily cap and budgets set by moderators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from saqshy.context import Context
from saqshy.db.models import ReviewTask, Role, User, Verdict, Vote
from tests.review_ui.conftest import Seed
from triage_api.routes.wellbeing import DISTRESSING_BUDGETS, claim_gate

Person = Callable[..., tuple[User, dict[str, str]]]


def _by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["categories"]}


def test_defaults_hide_distressing_categories(api: TestClient, person: Person) -> None:
    _, headers = person(Role.VOLUNTEER)
    body = api.get("/wellbeing/me", headers=headers).json()
    categories = _by_name(body)
    assert body["daily_cap"] is None and body["reviewed_today"] == 0 and body["cap_reached"] is False
    for name, budget in DISTRESSING_BUDGETS.items():
        assert categories[name]["requires_opt_in"] and not categories[name]["served"]
        assert categories[name]["budget"] == budget
    assert set(body["excluded_categories"]) == set(DISTRESSING_BUDGETS)
    assert categories["drugs"]["served"] and categories["drugs"]["label"]["kk"] == "Есірткі"


def test_opt_in_and_break_interval(api: TestClient, person: Person) -> None:
    _, headers = person(Role.VOLUNTEER)
    response = api.put("/wellbeing/me", json={"opt_in_categories": ["suicide"], "break_every_minutes": 30},
                       headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["break_every_minutes"] == 30
    assert _by_name(body)["suicide"]["served"] and body["excluded_categories"] == ["extremism"]


def test_bad_input_changes_nothing(api: TestClient, person: Person) -> None:
    _, headers = person(Role.VOLUNTEER)
    for payload in ({"opt_in_categories": ["no_such"]}, {"break_every_minutes": 1}, {"daily_cap": 5},
                    {"opt_in_categories": "suicide"}):
        response = api.put("/wellbeing/me", json=payload, headers=headers)
        assert response.status_code == 422, (payload, response.text)
    assert api.get("/wellbeing/me", headers=headers).json()["break_every_minutes"] == 50


def test_only_moderators_set_caps(api: TestClient, person: Person, ui_ctx: Context) -> None:
    volunteer, v_headers = person(Role.VOLUNTEER)
    _, m_headers = person(Role.MODERATOR)
    _, p_headers = person(Role.POLICE)
    url = f"/wellbeing/users/{volunteer.id}"
    assert api.put(url, json={"daily_cap": 10}, headers=v_headers).status_code == 403
    assert api.put(url, json={"daily_cap": 10}, headers=p_headers).status_code == 403
    assert api.get(url, headers=v_headers).status_code == 403
    assert api.put("/wellbeing/users/999999", json={"daily_cap": 10}, headers=m_headers).status_code == 404
    assert api.put(url, json={"daily_cap": 0}, headers=m_headers).status_code == 422
    response = api.put(url, json={"daily_cap": 2, "budgets": {"drugs": 1, "suicide": None}}, headers=m_headers)
    assert response.status_code == 200, response.text
    body = api.get("/wellbeing/me", headers=v_headers).json()
    assert body["daily_cap"] == 2
    assert _by_name(body)["drugs"]["budget"] == 1 and _by_name(body)["suicide"]["budget"] == 20
    assert api.put(url, json={"daily_cap": None}, headers=m_headers).json()["daily_cap"] is None
    from saqshy.db.models import AuditEntry

    with ui_ctx.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == str(volunteer.id))).all()
    assert actions.count("wellbeing.update") == 2


def test_counts_budget_and_cap_drive_the_claim_gate(api: TestClient, person: Person, ui_ctx: Context) -> None:
    volunteer, v_headers = person(Role.VOLUNTEER)
    _, m_headers = person(Role.MODERATOR)
    api.put(f"/wellbeing/users/{volunteer.id}", json={"daily_cap": 3, "budgets": {"drugs": 2}}, headers=m_headers)
    Seed(ui_ctx).tasks(2, category="drugs")
    with ui_ctx.sessions.begin() as session:
        for task in session.scalars(select(ReviewTask)).all():
            session.add(Vote(task_id=task.id, user_id=volunteer.id, verdict=Verdict.ILLEGAL, category="drugs"))
    body = api.get("/wellbeing/me", headers=v_headers).json()
    assert body["reviewed_today"] == 2 and not body["cap_reached"]
    assert _by_name(body)["drugs"]["shift_count"] == 2 and "drugs" in body["excluded_categories"]
    with ui_ctx.sessions() as session:
        gate = claim_gate(session, session.get(User, volunteer.id))  # type: ignore[arg-type]
    assert "drugs" in gate.excluded_categories and not gate.cap_reached
    Seed(ui_ctx).tasks(1, category="fraud")
    with ui_ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask).where(ReviewTask.category == "fraud")).one()
        session.add(Vote(task_id=task.id, user_id=volunteer.id, verdict=Verdict.LEGAL, category="fraud"))
    assert api.get("/wellbeing/me", headers=v_headers).json()["cap_reached"] is True


def test_moderators_limit_and_read_volunteers_only(api: TestClient, person: Person) -> None:
    _, m_headers = person(Role.MODERATOR)
    _, a_headers = person(Role.ADMIN)
    for role in (Role.ADMIN, Role.POLICE, Role.ML_ENGINEER, Role.MODERATOR):
        other, _ = person(role)
        url = f"/wellbeing/users/{other.id}"
        assert api.put(url, json={"daily_cap": 1}, headers=m_headers).status_code == 403, role
        assert api.get(url, headers=m_headers).status_code == 403, role
    colleague, _ = person(Role.MODERATOR)
    assert api.put(f"/wellbeing/users/{colleague.id}", json={"daily_cap": 5}, headers=a_headers).status_code == 200
    police, _ = person(Role.POLICE)
    assert api.get(f"/wellbeing/users/{police.id}", headers=a_headers).status_code == 403
def test_own_daily_budgets_and_text_blur(api: TestClient, person: Person, ui_ctx: Context) -> None:
    volunteer, headers = person(Role.VOLUNTEER)
    body = api.get("/wellbeing/me", headers=headers).json()
    assert _by_name(body)["drugs"]["own_daily_budget"] is None and not _by_name(body)["drugs"]["blur_text"]
    response = api.put("/wellbeing/me", json={"daily_budgets": {"drugs": 1, "fraud": 5},
                                              "blur_text_categories": ["drugs", "suicide"]}, headers=headers)
    assert response.status_code == 200, response.text
    categories = _by_name(response.json())
    assert categories["drugs"]["own_daily_budget"] == 1 and categories["fraud"]["own_daily_budget"] == 5
    assert categories["drugs"]["blur_text"] and categories["suicide"]["blur_text"]
    assert not categories["fraud"]["blur_text"] and categories["drugs"]["served"]
    # A vote today spends the own limit: the category is no longer served.
    Seed(ui_ctx).tasks(1, category="drugs")
    with ui_ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask)).one()
        session.add(Vote(task_id=task.id, user_id=volunteer.id, verdict=Verdict.ILLEGAL, category="drugs"))
    body = api.get("/wellbeing/me", headers=headers).json()
    assert _by_name(body)["drugs"]["today_count"] == 1 and "drugs" in body["excluded_categories"]
    with ui_ctx.sessions() as session:
        assert "drugs" in claim_gate(session, session.get(User, volunteer.id)).excluded_categories  # type: ignore[arg-type]
    # A null value removes one limit and keeps the others; other settings are left as they were.
    body = api.put("/wellbeing/me", json={"daily_budgets": {"drugs": None}}, headers=headers).json()
    assert _by_name(body)["drugs"]["own_daily_budget"] is None and _by_name(body)["fraud"]["own_daily_budget"] == 5
    assert _by_name(body)["drugs"]["served"] and _by_name(body)["drugs"]["blur_text"]
    assert _by_name(api.put("/wellbeing/me", json={"blur_text_categories": []}, headers=headers).json())[
        "drugs"]["blur_text"] is False


def test_bad_own_budgets_change_nothing(api: TestClient, person: Person) -> None:
    _, headers = person(Role.VOLUNTEER)
    api.put("/wellbeing/me", json={"daily_budgets": {"drugs": 3}, "blur_text_categories": ["drugs"]}, headers=headers)
    for payload in ({"daily_budgets": {"drugs": -1}}, {"daily_budgets": {"drugs": 10**6}},
                    {"daily_budgets": {"drugs": "many"}}, {"blur_text_categories": "drugs"}):
        assert api.put("/wellbeing/me", json=payload, headers=headers).status_code == 422, payload
    for payload in ({"daily_budgets": {"no_such": 1}, "blur_text_categories": []},
                    {"blur_text_categories": ["no_such"], "daily_budgets": {"drugs": 9}}):
        assert api.put("/wellbeing/me", json=payload, headers=headers).status_code == 422, payload
    drugs = _by_name(api.get("/wellbeing/me", headers=headers).json())["drugs"]
    assert drugs["own_daily_budget"] == 3 and drugs["blur_text"]
