"""Reposts of decided items in the moderation view: listed with the decision they inherited, in
ru/kk/en at 1280 and 390 px, acknowledged by keyboard and reopened, each action audited."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from saqshy.db.models import AuditEntry, ClusterLabel, ClusterLabelStatus, Role
from saqshy.search.indexer import index_pending
from tests.review_ui.conftest import ROOT, LiveServer, Seed, vote

pytestmark = pytest.mark.integration

_CLUSTERS = itertools.count(7_000_001)
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"


def seed_reposts(live_server: LiveServer, seed: Seed, count: int) -> int:
    """A cluster decided illegal by two volunteers (a case), then ``count`` reposts of it; the cluster id."""
    cluster = next(_CLUSTERS)
    text = "Продаю закладки, пишите в личку @seller, доставка по Алматы. Оплата криптой."
    seed.tasks(1, items=[{"url": f"https://t.me/s/almaty_market/{cluster}", "language": "ru", "title": "Закладки",
                          "text": text, "cluster_id": cluster}])
    for _ in range(2):
        vote(live_server, seed.user(Role.VOLUNTEER), "illegal", "drugs")
    seed.tasks(count, items=[
        {"url": f"https://t.me/s/almaty_market/{cluster}-repost-{n}", "language": "ru", "title": f"Закладки {n}",
         "text": f"{text} {n}", "cluster_id": cluster} for n in range(count)])
    return cluster


def _labels(seed: Seed) -> list[ClusterLabel]:
    with seed.ctx.sessions() as session:
        return list(session.scalars(select(ClusterLabel).where(ClusterLabel.is_repost.is_(True))
                                    .order_by(ClusterLabel.id)))


def _tab_to(page: Any, testid: str, limit: int = 150) -> None:
    """Press Tab until a control with ``data-testid=testid`` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.dataset.testid") == testid:
            return
    raise AssertionError(f"Tab never reached [data-testid={testid}]")


def test_a_moderator_sees_reposts_and_acknowledges_one_by_keyboard(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    seed_reposts(live_server, seed, 3)
    assert len(_labels(seed)) == 3
    dictionaries = {code: json.loads((ROOT / f"review_ui/static/i18n/{code}.json").read_text())
                    for code in ("ru", "kk", "en")}
    for code, words in dictionaries.items():
        moderator = seed.user(Role.MODERATOR, locale=code)
        page = live_server.page(browser)
        live_server.sign_in(page, moderator)
        page.goto("/#/moderation")
        page.wait_for_selector("[data-testid=repost]")
        section = page.locator("[data-testid=reposts]")
        assert words["repost.title"] in section.locator("h2").inner_text()
        assert section.locator("[data-testid=repost]").count() == 3
        first = section.locator("[data-testid=repost]").first
        decision = first.locator("[data-testid=repost-decision]").inner_text()
        assert words["repost.decision"] in decision and words["vote.illegal"] in decision
        # The repost's URL is text, never a link the browser could follow.
        assert first.locator("[data-testid=repost-url]").inner_text().startswith("https://t.me/s/almaty_market/")
        assert first.locator("a[href^='http']").count() == 0
        assert first.locator("[data-testid=repost-case]").get_attribute("href", timeout=1000).startswith("#/cases/")
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate(OVERFLOW) <= 0, f"{code} at {width} px overflows"
            section.screenshot(path=str(screenshots / f"reposts-{code}-{width}.png"))
        assert live_server.foreign_requests(page) == []
        assert page.saqshy_errors == []
        page.context.close()

    # By keyboard: Tab to the first repost's acknowledge button, Enter; the list shrinks and the
    # focus moves on to the next repost's button.
    moderator = seed.user(Role.MODERATOR, locale="en")
    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.goto("/#/moderation")
    page.wait_for_selector("[data-testid=repost]")
    _tab_to(page, "repost-acknowledge")
    acknowledged_id = int(page.evaluate("() => document.activeElement.closest('[data-testid=repost]').dataset.id"))
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=repost]').length === 2")
    assert page.locator(".toast").inner_text() == dictionaries["en"]["repost.acknowledged"]
    assert page.evaluate("() => document.activeElement.dataset.testid") == "repost-acknowledge"
    # Reopen the next one: it goes back to the queue as a task of its own.
    reopened_id = int(page.locator("[data-testid=repost]").first.get_attribute("data-id") or 0)
    page.locator("[data-testid=repost]").first.locator("[data-testid=repost-reopen]").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=repost]').length === 1")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(screenshots / "moderation-reposts.png"), full_page=True)
    labels = {label.id: label for label in _labels(seed)}
    assert labels[acknowledged_id].status == ClusterLabelStatus.ACKNOWLEDGED
    assert labels[reopened_id].status == ClusterLabelStatus.REOPENED and labels[reopened_id].reopened_task_id
    with seed.ctx.sessions() as session:
        audited = session.execute(select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.entity_id)
                                  .where(AuditEntry.action.like("repost.%"), AuditEntry.actor_id.is_not(None))).all()
    assert sorted(audited) == [("repost.acknowledge", moderator.id, str(acknowledged_id)),
                               ("repost.reopen", moderator.id, str(reopened_id))]
    assert page.saqshy_errors == []


def test_the_police_see_the_repost_in_the_case(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    seed_reposts(live_server, seed, 1)
    (label,) = _labels(seed)
    assert label.case_id is not None
    page = live_server.page(browser)
    live_server.sign_in(page, seed.user(Role.POLICE))
    page.goto(f"/#/cases/{label.case_id}")
    members = page.wait_for_selector("[data-testid=case-members]")
    assert members is not None and f"#{label.item_id}" in members.inner_text()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(OVERFLOW) <= 0, f"the case at {width} px overflows"
        members.screenshot(path=str(screenshots / f"case-members-{width}.png"))
    # In search, the repost carries the decision it inherited.
    index_pending(seed.ctx)
    page.goto("/#/search")
    page.wait_for_selector("[data-testid=hit]")
    hit = page.locator(f"[data-testid=hit][data-id='{label.item_id}']")
    assert f"#{label.task_id}" in hit.locator("[data-testid=hit-inherited]").inner_text()
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []
