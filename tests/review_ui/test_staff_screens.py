"""The staff screens in the browser: search, audit log, gold tasks and sources, each by its main
path, in Russian, Kazakh and English, 1280 px and 390 px wide, without horizontal overflow."""

from __future__ import annotations

import json
import re
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from review_ui import STATIC_DIR
from saqshy.db.models import AuditEntry, Role, Source, SourceKind
from saqshy.search.indexer import index_pending
from tests.review_ui.conftest import LiveServer, Seed, bearer, vote

pytestmark = pytest.mark.integration

WIDTHS = (1280, 390)
LOCALES = ("ru", "kk", "en")


def _translations(key: str, **params: object) -> list[str]:
    """``key``'s message in each interface language, with its params filled in."""
    out = []
    for locale in LOCALES:
        text: str = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))[key]
        for name, value in params.items():
            text = text.replace(f"{{{name}}}", str(value))
        out.append(text)
    return out


def _says(text: str, key: str, **params: object) -> bool:
    return any(message in text for message in _translations(key, **params))


def _every_layout(page: Any, ready: str, nav: str) -> None:
    """In each language and width: the screen renders, its nav entry is translated, nothing overflows."""
    names = set()
    for code in LOCALES:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click(f"[data-testid=lang-{code}]")
        # The chrome is drawn again (the button pressed), then the screen in the new language.
        page.wait_for_selector(f"[data-testid=lang-{code}][aria-pressed=true]")
        page.wait_for_selector(ready)
        names.add(page.locator(f"[data-testid=nav-{nav}]").inner_text())
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(50)
            overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{nav} overflows by {overflow}px at {width}px in {code}"
        # No key shows untranslated (a missing key renders as itself: "search.title").
        text = page.locator("main").inner_text()
        assert not [w for w in text.split() if w.startswith(("search.", "audit.", "gold.", "sources."))], text
    assert len(names) == 3, f"the nav entry is translated: {names}"
    page.set_viewport_size({"width": 1280, "height": 900})


def _touch_targets(page: Any) -> None:
    """Every button, select and text field of the screen is at least 44 px tall."""
    small = page.evaluate(
        """() => [...document.querySelectorAll('main button, main select, main input, main summary, main a.button')]
             .filter((el) => el.offsetParent && el.getBoundingClientRect().height < 44)
             .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert small == []


def test_search_filters_highlights_and_opens_task_and_case(
    live_server: LiveServer, browser: Any, seed: Seed, ui_ctx: Any, screenshots: Path
) -> None:
    moderator = seed.user(Role.MODERATOR)
    police = seed.user(Role.POLICE)
    first, second = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    hostile = '<img src=/x onerror="document.body.dataset.pwned=1">закладки <script>alert(1)</script>'
    seed.tasks(1, items=[{"url": "https://t.me/s/almaty_market/1", "language": "ru",
                                  "title": "Объявление <b>1</b>", "text": f"Продаю закладки, доставка. {hostile}"}])
    seed.tasks(4)
    # Two illegal votes decide the first task and open a police case.
    decided_task = vote(live_server, first, "illegal", "drugs")
    assert vote(live_server, second, "illegal", "drugs") == decided_task
    # Triage and the decision queued the items for the index again (with their scores, tasks,
    # decision): drain it now rather than wait for the periodic job.
    index_pending(ui_ctx)

    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.click("[data-testid=nav-search]")
    page.wait_for_selector("[data-testid=hit]")
    page.select_option("[data-testid=search-category]", "drugs")
    page.fill("[data-testid=search-q]", "закладки")
    page.press("[data-testid=search-q]", "Enter")
    page.wait_for_selector("[data-testid=snippet] mark")
    assert page.locator("[data-testid=hit]").count() == 5
    assert page.locator("[data-testid=snippet] mark").first.inner_text().lower() == "закладки"
    # Crawled markup is text: shown literally, never an element, never run.
    hostile_hit = page.locator("[data-testid=hit]", has_text="<img src=/x")
    assert hostile_hit.count() == 1 and "<b>1</b>" in hostile_hit.inner_text()
    assert page.locator("main img, main script, main b").count() == 0
    assert page.evaluate("() => document.body.dataset.pwned") is None

    # The decided item opens to its text and its two votes.
    page.select_option("[data-testid=search-decision]", "illegal")
    page.click("[data-testid=search-submit]")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=hit]').length === 1")
    page.locator("[data-testid=hit-open]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=hit-text]")
    assert "Продаю закладки" in page.locator("[data-testid=hit-text]").inner_text()
    assert page.locator("[data-testid=hit-details] tbody tr").count() == 2
    page.screenshot(path=str(screenshots / "search.png"), full_page=True)
    _touch_targets(page)

    # A score range nothing falls in: a clear empty state.
    page.fill("#search-min", "99")
    page.fill("#search-max", "100")
    page.click("[data-testid=search-submit]")
    page.wait_for_selector("[data-testid=search-empty]")
    # A reversed range: the server's reason, translated, nothing else.
    page.fill("#search-min", "90")
    page.fill("#search-max", "10")
    page.click("[data-testid=search-submit]")
    page.wait_for_selector("[data-testid=search-error]")
    assert _says(page.locator("[data-testid=search-error]").inner_text(), "errors.search_filters_invalid")
    page.fill("#search-min", "")
    page.fill("#search-max", "")
    page.select_option("[data-testid=search-decision]", "")
    page.click("[data-testid=search-submit]")
    _every_layout(page, "[data-testid=hit]", "search")

    # An undecided hit goes to the gold screen with its item filled in.
    gold_link = page.locator("[data-testid=hit-gold]").first
    item_id = gold_link.locator("xpath=ancestor::li[@data-testid='hit']").get_attribute("data-id")
    gold_link.click()
    page.wait_for_selector("[data-testid=gold-form]")
    assert page.input_value("[data-testid=gold-item]") == item_id

    # Police search too, without the moderators' source filter, and open the case.
    officer = live_server.page(browser)
    live_server.sign_in(officer, police)
    officer.goto("/#/search")
    officer.wait_for_selector("[data-testid=hit-case]")
    assert officer.locator("#search-source").is_hidden()
    officer.locator("[data-testid=hit-case]").first.click()
    officer.wait_for_url("**/#/cases/*")
    officer.wait_for_selector("main h1")
    assert page.saqshy_errors == [] and officer.saqshy_errors == []
    assert live_server.foreign_requests(page) == [] and live_server.foreign_requests(officer) == []


def test_audit_log_filters_and_chain_status(
    live_server: LiveServer, browser: Any, seed: Seed, ui_ctx: Any, screenshots: Path
) -> None:
    admin = seed.user(Role.ADMIN)
    moderator = seed.user(Role.MODERATOR)
    with closing(bearer(live_server, moderator)) as client:
        source = client.post("/sources", json={"url": "https://board.example.kz/", "kind": "site"}).json()
        assert client.post(f"/sources/{source['id']}/crawl").status_code == 200

    page = live_server.page(browser)
    live_server.sign_in(page, admin)
    page.click("[data-testid=nav-audit]")
    page.wait_for_selector("[data-testid=chain-status][data-key=intact]")
    page.wait_for_selector("[data-testid=audit-entries] tbody tr")
    page.select_option("[data-testid=audit-actor]", str(moderator.id))
    page.select_option("[data-testid=audit-action]", "source.crawl_now")
    page.click("[data-testid=audit-apply]")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=audit-entries] tbody tr').length === 1"
        " && document.querySelector('[data-testid=audit-entries] tbody').textContent.includes('source.crawl_now')"
    )
    assert moderator.display_name in page.locator("[data-testid=audit-entries] tbody").inner_text()
    # A date range before anything happened: the empty state.
    page.fill("#audit-from", "2001-01-01")
    page.fill("#audit-to", "2001-01-02")
    page.click("[data-testid=audit-apply]")
    page.wait_for_selector("[data-testid=audit-entries] td.muted")
    page.fill("#audit-from", "")
    page.fill("#audit-to", "")
    page.select_option("[data-testid=audit-actor]", "")
    page.select_option("[data-testid=audit-action]", "")
    page.click("[data-testid=audit-apply]")
    page.wait_for_selector("[data-testid=audit-entries] tbody tr:nth-child(3)")
    page.screenshot(path=str(screenshots / "audit.png"), full_page=True)
    _touch_targets(page)
    _every_layout(page, "[data-testid=chain-status]", "audit")

    # An entry edited behind the log's back: the chain is reported broken at that entry.
    with ui_ctx.sessions.begin() as session:
        entry_id = session.scalars(select(AuditEntry.id).where(AuditEntry.action == "source.create")).one()
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(payload={"edited": True}))
    page.click("[data-testid=audit-verify]")
    page.wait_for_selector("[data-testid=chain-status][data-key=broken]")
    assert f"#{entry_id}" in page.locator("[data-testid=chain-status]").inner_text()
    assert page.saqshy_errors == []


def test_gold_task_from_an_item_gives_volunteers_an_accuracy(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    moderator = seed.user(Role.MODERATOR)
    volunteer = seed.user(Role.VOLUNTEER)
    first, second = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    decided_item, gold_item = seed.tasks(2)
    vote(live_server, first, "illegal", "drugs")
    vote(live_server, second, "illegal", "drugs")  # the first task (the decided item) is decided

    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.click("[data-testid=nav-gold]")
    page.wait_for_selector("[data-testid=gold-accuracy] tbody tr")
    assert volunteer.display_name in page.locator("[data-testid=gold-accuracy]").inner_text()
    page.wait_for_selector("[data-testid=gold-tasks] td.muted")  # the empty state

    # An illegal answer needs a category; a decided item is refused with the server's reason.
    page.fill("[data-testid=gold-item]", str(gold_item))
    page.click("[data-testid=gold-submit]")
    page.wait_for_selector("[data-testid=gold-message].error")
    page.fill("[data-testid=gold-item]", str(decided_item))
    page.select_option("[data-testid=gold-category]", "drugs")
    page.click("[data-testid=gold-submit]")
    page.wait_for_selector("[data-testid=gold-message].error")
    decided = "|".join(re.escape(text).replace(re.escape("{id}"), r"\d+")
                       for text in _translations("errors.task_decided"))
    page.wait_for_function(
        "(p) => new RegExp(p).test(document.querySelector('[data-testid=gold-message]').textContent)", arg=decided)

    # By keyboard: the open item becomes gold with its expected answer.
    page.fill("[data-testid=gold-item]", str(gold_item))
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=gold-message].ok")
    page.wait_for_selector("[data-testid=gold-tasks] tbody tr:not(:has(td.muted))")
    assert f"#{gold_item}" in page.locator("[data-testid=gold-tasks] tbody").inner_text()

    # The volunteer answers it right: their accuracy is no longer "—".
    vote(live_server, volunteer, "illegal", "drugs")
    page.reload()
    row = page.locator("[data-testid=gold-accuracy] tr", has_text=volunteer.display_name)
    row.wait_for()
    assert "100.0%" in row.inner_text()
    page.screenshot(path=str(screenshots / "gold.png"), full_page=True)
    _touch_targets(page)
    _every_layout(page, "[data-testid=gold-tasks] tbody tr", "gold")
    assert page.saqshy_errors == []


def test_sources_add_crawl_now_and_candidates(
    live_server: LiveServer, browser: Any, seed: Seed, ui_ctx: Any, screenshots: Path
) -> None:
    moderator = seed.user(Role.MODERATOR)
    seed.sources()
    with ui_ctx.sessions.begin() as session:
        session.add(Source(name="mirror.example.kz", url="https://mirror.example.kz/", kind=SourceKind.SITE,
                           is_candidate=True, enabled=False))

    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.click("[data-testid=nav-sources]")
    page.wait_for_selector("[data-testid=candidate-accept]")

    # A URL the server refuses: its reason, and nothing added.
    page.fill("[data-testid=source-url]", "ftp://files.example.kz/")
    page.click("[data-testid=source-add]")
    page.wait_for_selector("[data-testid=source-message].error")
    assert _says(page.locator("[data-testid=source-message]").inner_text(), "errors.url_invalid")

    page.select_option("[data-testid=source-kind]", "telegram")
    page.fill("[data-testid=source-url]", "@almaty_deals")
    page.fill("#source-every", "2")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=source-message].ok")
    row = page.locator("[data-testid=sources-list] tr", has_text="t.me/almaty_deals")
    row.wait_for()
    row.locator("[data-testid=source-crawl]").click()
    page.wait_for_selector(".toast:not([hidden])")

    page.locator("[data-testid=candidate-accept]").click()
    page.wait_for_selector("[data-testid=sources-candidates] td.muted")
    page.locator("[data-testid=sources-list] tr", has_text="mirror.example.kz").wait_for()
    with ui_ctx.sessions() as session:
        added = session.scalars(select(Source).where(Source.name == "t.me/almaty_deals")).one()
        assert (added.kind, added.crawl_every_seconds, added.next_crawl_at is not None) == (
            SourceKind.TELEGRAM, 7200, True)
        assert session.scalars(select(Source).where(Source.url.like("ftp:%"))).first() is None
    page.screenshot(path=str(screenshots / "sources.png"), full_page=True)
    _touch_targets(page)
    _every_layout(page, "[data-testid=sources-list] tbody tr", "sources")
    assert page.saqshy_errors == []
