"""The sources API: listing, detail, roll-up, candidates, schedule changes, crawl status, adding, crawl now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from saqshy.context import Context
from saqshy.db.models import AuditEntry, Role, Source, SourceKind, SourceLink, User, Verdict, utcnow
from tests.triage_api.escalation_factories import decide_source_items, make_source
from tests.triage_api.triage_factories import make_item as make_bare_item


def test_sources_api(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator = auth_headers(make_user(Role.MODERATOR))
    volunteer = auth_headers(make_user(Role.VOLUNTEER))
    with ctx.sessions.begin() as session:
        risky = make_source(session)
        decide_source_items(session, ctx.settings, risky, [Verdict.ILLEGAL] * 3)
        session.add(SourceLink(source_id=risky.id, target="next.example", target_kind=SourceKind.SITE, seen_count=3))
        risky_id = risky.id
    assert client.get("/sources", headers=volunteer).status_code == 403
    listed = client.get("/sources", headers=moderator).json()
    assert listed["items"][0]["id"] == risky_id and listed["items"][0]["illegal_count"] == 3
    with ctx.sessions.begin() as session:
        # Stored with credentials before they were refused: the API never shows them.
        legacy_id = make_source(session, url="https://editor:hunter2@legacy.example/").id
    legacy = client.get(f"/sources/{legacy_id}", headers=moderator).json()
    assert legacy["url"] == "https://legacy.example/"
    assert "hunter2" not in client.get("/sources", headers=moderator).text
    detail = client.get(f"/sources/{risky_id}", headers=moderator).json()
    assert detail["illegal_rate"] == 1.0 and detail["cases"] == 3 and detail["top_links"][0]["target"] == "next.example"
    rollup = client.post("/sources/rollup", headers=moderator).json()
    assert [c["name"] for c in rollup["candidates_created"]] == ["next.example"]
    candidate_id = rollup["candidates_created"][0]["id"]
    assert client.get("/sources/candidates", headers=moderator).json()["total"] == 1
    assert client.post(f"/sources/{candidate_id}/accept", headers=moderator).json()["enabled"] is True
    assert client.post(f"/sources/{candidate_id}/accept", headers=moderator).status_code == 409
    assert client.get("/sources/424242", headers=moderator).status_code == 404
    assert client.get("/sources?min_risk=2", headers=moderator).status_code == 422


def test_update_source_schedule(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator, volunteer = auth_headers(make_user(Role.MODERATOR)), auth_headers(make_user())
    last = utcnow() - timedelta(hours=1)
    with ctx.sessions.begin() as session:
        source = make_source(session, crawl_every_seconds=6 * 3600, last_crawled_at=last,
                             next_crawl_at=last + timedelta(hours=6))
        dormant = make_source(session, enabled=False)
        source_id, dormant_id = source.id, dormant.id
    url = f"/sources/{source_id}"
    assert client.patch(url, json={"enabled": False}, headers=volunteer).status_code == 403
    for bad in ({"crawl_every_seconds": 5}, {"max_depth": -1}, {"max_depth": 99}, {"enabled": "perhaps"},
                {"colour": "red"}):
        assert client.patch(url, json=bad, headers=moderator).status_code == 422, bad
    assert client.patch("/sources/999999", json={"enabled": False}, headers=moderator).status_code == 404
    body = client.patch(url, json={"crawl_every_seconds": 2 * 3600, "max_depth": 3}, headers=moderator).json()
    assert (body["crawl_every_seconds"], body["max_depth"], body["enabled"]) == (7200, 3, True)
    # The next crawl follows the new interval, counted from the last crawl.
    next_at = body["next_crawl_at"]
    assert next_at is not None
    assert client.patch(url, json={"crawl_every_seconds": 7200}, headers=moderator).status_code == 200  # no change
    woken = client.patch(f"/sources/{dormant_id}", json={"enabled": True}, headers=moderator).json()
    assert woken["enabled"] is True and woken["next_crawl_at"] is not None
    with ctx.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "source.update").order_by(AuditEntry.id)
        ).all()
        assert [e.entity_id for e in entries] == [str(source_id), str(dormant_id)]
        assert entries[0].payload == {"crawl_every_seconds": {"from": 21600, "to": 7200},
                                      "max_depth": {"from": 2, "to": 3}}
        row = session.get(Source, source_id)
        assert row is not None and row.next_crawl_at is not None
        assert abs((row.next_crawl_at.replace(tzinfo=None) - last.replace(tzinfo=None)).total_seconds() - 7200) < 5


def test_crawl_status(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator = auth_headers(make_user(Role.MODERATOR))
    now = utcnow()
    with ctx.sessions.begin() as session:
        overdue = make_source(session, last_crawled_at=now - timedelta(hours=8), next_crawl_at=now - timedelta(hours=2))
        fresh = make_source(session, last_crawled_at=now, next_crawl_at=now + timedelta(hours=6))
        make_source(session, is_candidate=True, enabled=False)  # candidates are not crawled: not listed
        make_bare_item(session, source_id=overdue.id, fetched_at=now - timedelta(hours=30))
        make_bare_item(session, source_id=overdue.id, fetched_at=now - timedelta(hours=1))
        make_bare_item(session, source_id=fresh.id, fetched_at=now)
        overdue_id, fresh_id = overdue.id, fresh.id
    assert client.get("/sources/crawl-status", headers=auth_headers(make_user())).status_code == 403
    body = client.get("/sources/crawl-status", headers=moderator).json()
    rows = {r["source_id"]: r for r in body["sources"]}
    assert [r["source_id"] for r in body["sources"]] == [overdue_id, fresh_id]  # overdue first
    assert (rows[overdue_id]["item_count"], rows[overdue_id]["items_last_24h"], rows[overdue_id]["overdue"]) == (
        2, 1, True)
    assert (rows[fresh_id]["item_count"], rows[fresh_id]["items_last_24h"], rows[fresh_id]["overdue"]) == (1, 1, False)
    assert rows[fresh_id]["last_crawled_at"] is not None and rows[fresh_id]["next_crawl_at"] is not None


def test_create_source_and_crawl_now(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator, volunteer = auth_headers(make_user(Role.MODERATOR)), auth_headers(make_user())
    new = {"url": "https://board.example.kz/", "kind": "site", "crawl_every_seconds": 3600, "max_depth": 1}
    assert client.post("/sources", json=new, headers=volunteer).status_code == 403
    for bad in ({**new, "url": "ftp://board.example.kz/"}, {**new, "kind": "carrier-pigeon"},
                {**new, "crawl_every_seconds": 5}, {**new, "max_depth": 21}, {**new, "colour": "red"},
                {**new, "kind": "telegram", "url": "@x"}):
        response = client.post("/sources", json=bad, headers=moderator)
        assert response.status_code == 422, (bad, response.text)
    created = client.post("/sources", json=new, headers=moderator)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["kind"], body["enabled"], body["max_depth"]) == ("board.example.kz", "site", True, 1)
    assert body["next_crawl_at"] is not None  # due now
    assert client.post("/sources", json=new, headers=moderator).status_code == 409  # the name is taken
    channel = client.post("/sources", json={"url": "@almaty_shop", "kind": "telegram"}, headers=moderator).json()
    assert channel["url"] == "https://t.me/s/almaty_shop" and channel["crawl_every_seconds"] == 6 * 3600

    source_id = body["id"]
    assert client.post(f"/sources/{source_id}/crawl", headers=volunteer).status_code == 403
    assert client.post("/sources/999999/crawl", headers=moderator).status_code == 404
    crawled = client.post(f"/sources/{source_id}/crawl", headers=moderator)
    assert crawled.status_code == 200 and crawled.json()["next_crawl_at"] is not None
    client.patch(f"/sources/{source_id}", json={"enabled": False}, headers=moderator)
    assert client.post(f"/sources/{source_id}/crawl", headers=moderator).status_code == 409
    with ctx.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == "source", AuditEntry.entity_id == str(source_id))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["source.create", "source.crawl_now", "source.update"]
