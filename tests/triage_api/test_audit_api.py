"""The audit log viewer's API: filters by actor, action and time, the action list, the chain status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from saqshy.context import Context
from saqshy.db.models import AuditEntry, Role, User, utcnow
from triage_api.services.audit import append_audit


def test_filters_by_actor_action_and_time(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    admin_user = make_user(Role.ADMIN)
    admin = auth_headers(admin_user)
    other = make_user(Role.MODERATOR)
    with ctx.sessions.begin() as session:
        append_audit(session, actor_id=other.id, action="source.crawl_now", entity_type="source", entity_id=1,
                     payload={})
        append_audit(session, actor_id=admin_user.id, action="source.crawl_now", entity_type="source",
                     entity_id=2, payload={})

    def found(**params: object) -> list[tuple[int | None, str]]:
        response = client.get("/audit", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [(e["actor_id"], e["action"]) for e in response.json()["items"]]

    assert found(actor_id=other.id, action="source.crawl_now") == [(other.id, "source.crawl_now")]
    assert found(action="source.crawl_now") == [(admin_user.id, "source.crawl_now"), (other.id, "source.crawl_now")]
    now = utcnow()
    assert found(action="source.crawl_now", at_from=(now - timedelta(hours=1)).isoformat()) != []
    assert found(action="source.crawl_now", at_from=(now + timedelta(hours=1)).isoformat()) == []
    assert found(action="source.crawl_now", at_to=(now - timedelta(hours=1)).isoformat()) == []
    reversed_range = client.get("/audit", params={"at_from": now.isoformat(),
                                                  "at_to": (now - timedelta(days=1)).isoformat()}, headers=admin)
    assert reversed_range.status_code == 422 and "before" in reversed_range.json()["detail"]

    actions = client.get("/audit/actions", headers=admin).json()
    assert "source.crawl_now" in actions and actions == sorted(set(actions))
    assert client.get("/audit/actions", headers=auth_headers(other)).status_code == 403


def test_verify_reports_the_first_broken_entry(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    admin = auth_headers(make_user(Role.ADMIN))
    with ctx.sessions.begin() as session:
        entry = append_audit(session, actor_id=None, action="test.event", entity_type="thing", entity_id=1,
                             payload={"n": 1})
    assert client.get("/audit/verify", headers=admin).json()["ok"]
    with ctx.sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(payload={"n": 2}))
    verified = client.get("/audit/verify", headers=admin).json()
    assert not verified["ok"] and verified["first_bad_id"] == entry.id and verified["problems"]
