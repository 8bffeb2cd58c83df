"""A volunteer opens one of their past decisions from "My decisions", by keyboard: the item read-only
as the queue showed it, their own vote and the task's outcome, in Russian, Kazakh and English, at
1280 px and 390 px without horizontal overflow; the crawled site is never linked nor fetched."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from review_ui import STATIC_DIR
from saqshy.db.models import Role
from tests.review_ui.conftest import LiveServer, Seed, bearer, vote

pytestmark = pytest.mark.integration

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
FOCUSED = "() => document.activeElement && document.activeElement.dataset.testid"


def _t(locale: str, key: str, **params: object) -> str:
    text: str = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))[key]
    for name, value in params.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


def _tab_to(page: Any, testid: str, presses: int = 40) -> None:
    for _ in range(presses):
        if page.evaluate(FOCUSED) == testid:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {testid}")


def _open_by_keyboard(page: Any, locale: str, task_id: int) -> None:
    """From My decisions, Tab to the decision's link and follow it with Enter."""
    page.goto("/#/me")
    link = page.wait_for_selector(f"[data-testid=decision-link][href='#/me/decision/{task_id}']")
    assert link.get_attribute("aria-label") == _t(locale, "mydecision.open", id=task_id)
    page.focus("[data-testid=skip]")
    _tab_to(page, "decision-link")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=decision-item] [data-testid=item-text]")
    assert page.url.endswith(f"#/me/decision/{task_id}")


def _assert_read_only_item(page: Any, live_server: LiveServer, locale: str, task_id: int, decided: bool) -> None:
    main = page.inner_text("main")
    assert _t(locale, "mydecision.title", id=task_id) in page.inner_text("main h1")
    assert page.inner_text("[data-testid=decision-verdict]") == _t(locale, "vote.illegal")
    assert page.inner_text("[data-testid=decision-note]") == f"note in {locale}"
    status = _t(locale, "search.status.decided" if decided else "search.status.open")
    assert page.inner_text("[data-testid=decision-status]") == status
    outcome = page.inner_text("[data-testid=decision-outcome]")
    assert outcome.startswith(_t(locale, "vote.illegal")) if decided else outcome == _t(locale, "me.pending")
    assert _t(locale, "mydecision.read_only") in main
    # The item as the queue drew it: the "why flagged" spans, the text in its own language.
    assert page.query_selector_all("[data-testid=decision-item] [data-testid=item-text] mark")
    assert page.get_attribute("[data-testid=item-text]", "lang") in {"ru", "kk", "en"}
    # Read-only, and the crawled URL is text: no vote control, no link or button to the site.
    url = page.inner_text("[data-testid=item-url]")
    assert url.startswith("https://t.me/")
    assert not page.query_selector_all("main button.illegal, main button.legal, [data-testid=open-original]")
    assert not page.query_selector_all("main a[href^='http']")
    assert not live_server.foreign_requests(page)


def test_a_volunteer_opens_a_past_decision_by_keyboard(
    live_server: LiveServer, browser: Any, seed: Seed, tmp_path: Path
) -> None:
    seed.tasks(3)
    people = {locale: seed.user(Role.VOLUNTEER, locale=locale) for locale in ("ru", "kk", "en")}
    # Two agreeing votes decide the first task; the third volunteer gets the next one, still open.
    task_ids = {locale: vote(live_server, user, "illegal", "drugs", note=f"note in {locale}")
                for locale, user in people.items()}
    assert task_ids["ru"] == task_ids["kk"] != task_ids["en"]
    for locale, user in people.items():
        page = live_server.page(browser)
        live_server.sign_in(page, user)
        decided = locale != "en"
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            _open_by_keyboard(page, locale, task_ids[locale])
            _assert_read_only_item(page, live_server, locale, task_ids[locale], decided)
            assert page.evaluate(OVERFLOW) == 0, (locale, width)
            page.screenshot(path=str(tmp_path / f"my-decision-{locale}-{width}.png"), full_page=True)
            # The way back, by keyboard: the first control of the page.
            _tab_to(page, "decision-back")
            page.keyboard.press("Enter")
            page.wait_for_selector("[data-testid=decision-link]")
            assert page.url.endswith("#/me")
            assert page.evaluate(OVERFLOW) == 0, ("my decisions", locale, width)
            page.screenshot(path=str(tmp_path / f"my-decisions-{locale}-{width}.png"), full_page=True)
        assert not page.saqshy_errors, page.saqshy_errors
        page.context.close()


def test_someone_elses_decision_is_not_shown(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    seed.tasks(1)
    task_id = vote(live_server, seed.user(Role.VOLUNTEER), "legal")
    page = live_server.page(browser)
    live_server.sign_in(page, seed.user(Role.VOLUNTEER))
    page.goto(f"/#/me/decision/{task_id}")
    page.wait_for_selector("[data-testid=decision-missing]")
    assert page.inner_text("[data-testid=decision-missing]") == _t("en", "mydecision.not_found")
    assert not page.query_selector_all("[data-testid=item-text]")
    page.context.close()


def test_the_text_stays_blurred_as_the_volunteer_chose(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    seed.tasks(1)
    volunteer = seed.user(Role.VOLUNTEER)
    task_id = vote(live_server, volunteer, "illegal", "drugs")
    with closing(bearer(live_server, volunteer)) as client:
        assert client.put("/wellbeing/me", json={"blur_text_categories": ["drugs"]}).status_code == 200
    page = live_server.page(browser)
    live_server.sign_in(page, volunteer)
    page.goto(f"/#/me/decision/{task_id}")
    page.wait_for_selector("[data-testid=decision-item] [data-testid=item-text].blurred")
    # Revealed by `m`, as in the queue, and blurred again by a second `m`.
    page.keyboard.press("m")
    page.wait_for_selector("[data-testid=item-text]:not(.blurred)")
    page.keyboard.press("m")
    page.wait_for_selector("[data-testid=item-text].blurred")
    page.context.close()
