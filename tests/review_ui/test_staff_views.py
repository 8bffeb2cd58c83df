"""Moderator, admin, invitation, wellbeing and language flows in the browser."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from saqshy.db.models import Role, User
from tests.review_ui.conftest import LiveServer, Seed, bearer, vote

pytestmark = pytest.mark.integration


def test_moderator_resolves_invites_and_caps(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    first = seed.user(Role.VOLUNTEER)
    second = seed.user(Role.VOLUNTEER)
    moderator = seed.user(Role.MODERATOR)
    seed.tasks(2)
    vote(live_server, first, "illegal")
    vote(live_server, second, "legal")

    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.goto("/#/moderation")
    page.wait_for_selector("article.dispute")
    assert page.locator("article.dispute table tbody tr").count() == 2, "both votes are shown to the moderator"
    page.wait_for_selector("[data-testid=queue-depth] rect")
    # Every category's threshold is listed and editable.
    page.wait_for_selector("[data-testid=thresholds] input[type=number]")
    assert page.locator("[data-testid=thresholds] input[type=number]").count() >= 7
    page.screenshot(path=str(screenshots / "moderation.png"), full_page=True)
    page.locator("article.dispute button.illegal").first.click()
    page.wait_for_selector("article.dispute", state="detached")

    # An invitation: the one-time link opens the sign-up form; the new volunteer signs in.
    page.select_option("[data-testid=invite-role]", "volunteer")
    page.fill("#invite-email", "newcomer@saqshy.test")
    page.click("form.inline button[type=submit]")
    link = page.locator("[data-testid=invite-result] code").inner_text()
    assert link.startswith(f"{live_server.url}/invite/")
    newcomer = live_server.page(browser)
    newcomer.goto(link)
    newcomer.wait_for_selector("#password")
    newcomer.fill("#name", "Newcomer")
    newcomer.fill("#password", "a long enough passphrase")
    newcomer.click("button[type=submit]")
    newcomer.wait_for_selector("[data-testid=login-form]")
    invited = User(email="newcomer@saqshy.test")
    invited.password = "a long enough passphrase"  # type: ignore[attr-defined]
    live_server.sign_in(newcomer, invited)
    newcomer.wait_for_selector("#item")

    # The moderator caps the first volunteer at one item a day: their queue stops serving.
    page.reload()
    row = page.locator("table.grid tr", has_text=first.display_name)
    cap = row.locator("input[type=number]")
    cap.fill("1")
    cap.dispatch_event("change")
    page.wait_for_selector(".toast:not([hidden])")
    volunteer = live_server.page(browser)
    live_server.sign_in(volunteer, first)
    volunteer.wait_for_selector("[data-testid=queue-empty]")
    assert "1" in volunteer.locator("[data-testid=reviewed-today]").inner_text()
    for p in (page, newcomer, volunteer):
        assert live_server.foreign_requests(p) == []
        assert p.saqshy_errors == []


def test_moderation_stats_of_an_empty_queue(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    moderator = seed.user(Role.MODERATOR)
    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.goto("/#/moderation")
    page.wait_for_selector("[data-testid=stats] .stat")
    text = page.locator("[data-testid=stats]").inner_text()
    assert "null" not in text and "undefined" not in text, text
    assert page.saqshy_errors == []


def test_language_is_per_user_and_settings_persist(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER, locale="ru")
    page = live_server.page(browser)
    page.goto("/")
    page.wait_for_selector("[data-testid=login-form]")
    assert page.locator("h1").inner_text() == "Вход", "Russian is the default"
    live_server.sign_in(page, volunteer)
    assert page.locator("[data-testid=nav-queue]").inner_text() == "Очередь"
    # The language already shown: nothing is saved and the page is not drawn again.
    page.evaluate("() => { document.querySelector('#main > .page').dataset.kept = '1'; }")
    page.click("[data-testid=lang-ru]")
    page.wait_for_timeout(400)
    assert page.locator("#main > .page[data-kept='1']").count() == 1, "the page was drawn again"
    page.click("[data-testid=lang-kk]")
    page.wait_for_function("() => document.querySelector('[data-testid=nav-queue]').textContent === 'Кезек'")
    # Stored on the account: another browser signs in and gets Kazakh.
    other = live_server.page(browser)
    live_server.sign_in(other, volunteer)
    assert other.locator("[data-testid=nav-queue]").inner_text() == "Кезек"
    assert other.evaluate("() => document.documentElement.lang") == "kk"

    # Opt in to a distressing category from the settings page.
    other.goto("/#/settings")
    other.wait_for_selector("input[data-category=suicide]")
    other.check("input[data-category=suicide]")
    other.click("section.card button.primary")
    other.wait_for_selector(".toast:not([hidden])")
    with closing(bearer(live_server, volunteer)) as client:
        body = client.get("/wellbeing/me").json()
    assert "suicide" not in body["excluded_categories"] and "extremism" in body["excluded_categories"]


def test_admin_and_police_lists(live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path) -> None:
    admin = seed.user(Role.ADMIN)
    seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = live_server.page(browser)
    live_server.sign_in(page, admin)
    page.goto("/#/admin")
    page.wait_for_selector("main table.grid select")
    page.wait_for_function("() => document.querySelectorAll('main table.grid').length === 3")
    assert page.locator("main table.grid").count() == 3, "users, sources, crawl status"
    assert "t.me/almaty_market" in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "admin.png"), full_page=True)
    page.goto("/#/police")
    page.wait_for_selector("[data-testid=cases]")
    page.select_option("[data-testid=f-status]", "closed")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("[data-testid=cases] td.muted")
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []
