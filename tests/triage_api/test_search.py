"""GET /search: full text through the search port with filters, enriched from the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from saqshy.context import Context
from saqshy.db.models import ContentItem, Role, Source, User, Verdict
from saqshy.search.indexer import index_pending
from saqshy.services.items import mark_for_reindex
from tests.triage_api.escalation_factories import add_score, make_decided_task, make_item, make_source
from triage_api.services import cases


def _seed(ctx: Context) -> dict[str, int]:
    def item(session: Session, language: str, text: str, day: int, source: Source | None = None) -> ContentItem:
        fetched_at = datetime(2026, 11, day, tzinfo=UTC)
        return make_item(session, ctx.settings, language=language, source=source, text=text, fetched_at=fetched_at,
                         with_warc=False)

    with ctx.sessions.begin() as session:
        shop = make_source(session, name="shop.example")
        ru = item(session, "ru", "Продаю закладки, доставка по Алматы", 2, source=shop)
        add_score(session, ru, 0.95, "drugs")
        case = cases.open_case(session, make_decided_task(session, ru, Verdict.ILLEGAL), ctx.settings, None)
        kk = item(session, "kk", "Жаңа жұмыс ұсынысы доставка", 5)
        add_score(session, kk, 0.7, "fraud")
        en = item(session, "en", "Police warn residents about phone scam", 9)
        mark_for_reindex(session, [ru.id, kk.id, en.id])
        ids = {"ru": ru.id, "kk": kk.id, "en": en.id, "case": case.id, "shop": shop.id}
    index_pending(ctx)
    return ids


def test_search_filters_and_enrichment(
    any_client: TestClient,
    any_ctx: Context,
    make_user: Callable[..., User],
    auth_headers: Callable[[User], dict[str, str]],
) -> None:
    """On SQLite (FTS5 in the store) and PostgreSQL (the embedded side index or Elasticsearch)."""
    client, ctx = any_client, any_ctx
    ids = _seed(ctx)
    moderator = auth_headers(make_user(Role.MODERATOR))

    def found(query: str) -> list[int]:
        response = client.get(f"/search?{query}", headers=moderator)
        assert response.status_code == 200, response.text
        return [hit["item_id"] for hit in response.json()["items"]]

    hits = client.get("/search?q=доставка", headers=moderator).json()
    assert hits["total"] == 2 and {h["item_id"] for h in hits["items"]} == {ids["ru"], ids["kk"]}
    ru_hit = next(h for h in hits["items"] if h["item_id"] == ids["ru"])
    assert ru_hit["case_id"] == ids["case"] and ru_hit["case_status"] == "new"
    assert ru_hit["task_status"] == "decided" and ru_hit["source_name"] == "shop.example"
    assert ru_hit["decision"] == "illegal"
    assert ru_hit["model_version"] == "xlmr-test-2026.11"
    assert "<mark>" in "".join(f for fragments in ru_hit["highlights"].values() for f in fragments)

    assert found("q=доставка&language=kk") == [ids["kk"]]
    assert found(f"source_id={ids['shop']}") == [ids["ru"]]
    assert found("category=fraud") == [ids["kk"]]
    assert found("min_score=0.6&max_score=0.9") == [ids["kk"]]
    assert found("status=decided") == [ids["ru"]]
    assert found("decision=illegal") == [ids["ru"]] and found("decision=legal") == []
    assert found("fetched_from=2026-11-04T00:00:00Z&fetched_to=2026-11-10T00:00:00Z") == [ids["en"], ids["kk"]]
    assert found("q=nothingmatches") == []


def test_search_roles_and_bad_input(
    client: TestClient, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    assert client.get("/search?q=x", headers=auth_headers(make_user(Role.VOLUNTEER))).status_code == 403
    assert client.get("/search?q=x", headers=auth_headers(make_user(Role.POLICE))).status_code == 200
    assert client.get("/search?q=x", headers=ml).status_code == 200
    assert client.get("/search?q=" + "x" * 2000, headers=ml).status_code == 422
    assert client.get("/search?status=nope", headers=ml).status_code == 422
    reversed_range = client.get("/search?fetched_from=2026-11-05T00:00:00Z&fetched_to=2026-11-01T00:00:00Z", headers=ml)
    assert reversed_range.status_code == 422 and "before" in reversed_range.json()["detail"]
    assert client.get("/search?limit=0", headers=ml).status_code == 422
    reversed_scores = client.get("/search?min_score=0.9&max_score=0.5", headers=ml)
    assert reversed_scores.status_code == 422 and "max_score" in reversed_scores.json()["detail"]


def test_scores_tasks_and_decisions_reach_the_index(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    """Without a reindex: triage queues the scored items, and a decision queues its item."""
    from triage_api.services import queue

    with ctx.sessions.begin() as session:
        item = make_item(session, ctx.settings, language="ru", text="Продаю закладки", with_warc=False)
        add_score(session, item, 0.95, "drugs")
        queue.sync_tasks_from_scores(session, ctx.settings)
        item_id = item.id
    index_pending(ctx)
    moderator = auth_headers(make_user(Role.MODERATOR))

    def found(query: str) -> list[int]:
        response = client.get(f"/search?{query}", headers=moderator)
        assert response.status_code == 200, response.text
        return [hit["item_id"] for hit in response.json()["items"]]

    assert found("category=drugs&status=open&min_score=0.9") == [item_id]
    for _ in range(2):
        volunteer = auth_headers(make_user(Role.VOLUNTEER))
        task = client.post("/tasks/claim", headers=volunteer).json()
        voted = client.post(f"/tasks/{task['id']}/votes", json={"verdict": "illegal", "category": "drugs"},
                            headers=volunteer)
        assert voted.status_code == 201, voted.text
    index_pending(ctx)
    assert found("decision=illegal&status=decided") == [item_id]
    assert found("status=open") == []
