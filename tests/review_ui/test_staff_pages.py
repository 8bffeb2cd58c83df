"""The staff pages as their users meet them: one labelled score, category labels, refused edits put
back, a confirmed case outcome, translated errors, one password rule, and no page wider than a phone."""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy import update

from classifier.taxonomy import load_taxonomy
from review_ui import STATIC_DIR
from saqshy.db.models import Role, Score
from tests.review_ui.conftest import LiveServer, Seed, bearer, vote

pytestmark = pytest.mark.integration

NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}


def _dictionary(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def _toast(page: Any) -> str:
    page.wait_for_selector(".toast:not([hidden])")
    return str(page.locator(".toast").inner_text())


def _disputed(live_server: LiveServer, seed: Seed, overall: float) -> list[int]:
    """Two tasks two volunteers disagree on; each item's overall score differs from its category's."""
    first, second = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    item_ids = seed.tasks(2, score=0.93)
    with seed.ctx.sessions() as session:
        session.execute(update(Score).where(Score.item_id.in_(item_ids)).values(score=overall))
        session.commit()
    for verdict, volunteer in (("illegal", first), ("legal", second)):
        for _ in item_ids:
            vote(live_server, volunteer, verdict)
    return item_ids


def test_moderation_card_score_title_categories_and_refused_edits(
    live_server: LiveServer, browser: Any, seed: Seed
) -> None:
    _disputed(live_server, seed, overall=0.941)
    moderator = seed.user(Role.MODERATOR, locale="ru")
    ru = _dictionary("ru")
    page = live_server.page(browser)
    live_server.sign_in(page, moderator)
    page.goto("/#/moderation")
    page.wait_for_selector("article.dispute")
    card = page.locator("article.dispute").first

    # The overall probability the queue and the case show (not the category's 93.0%), labelled; the title.
    assert card.locator("[data-testid=dispute-score]").inner_text() == f"{ru['item.score']}: 94.1%"
    assert card.locator("[data-testid=dispute-title]").inner_text().startswith("Объявление ")

    # The resolution's category: a select of the taxonomy, labelled in Russian, the task's preselected.
    select = card.locator("[data-testid=resolve-category]")
    assert select.evaluate("s => s.value") == "drugs"
    labels = select.locator("option").all_inner_texts()
    assert [c.label["ru"] for c in load_taxonomy()] == labels[1:]

    # Invitations: a moderator is offered only the roles the server lets them grant.
    assert page.locator("[data-testid=invite-role] option").evaluate_all("os => os.map(o => o.value)") == [
        "volunteer"]

    # A refused threshold: the input shows the stored value again and the error is in Russian.
    threshold = page.locator("[data-testid=thresholds] input[data-category=drugs]")
    stored = threshold.input_value()
    threshold.fill("1.5")
    threshold.dispatch_event("change")
    message = _toast(page)
    expected = ru["errors.value_out_of_range"].replace("{field}", ru["field.threshold"])
    assert message == f"{ru['error.prefix']}: {expected}"
    page.wait_for_function("([v]) => document.querySelector('[data-category=drugs]').value === v", arg=[stored])
    # The thresholds table names categories in Russian.
    assert "Наркотики" in page.locator("[data-testid=thresholds]").inner_text()

    # Resolving with a chosen category decides the task.
    card.locator("[data-testid=resolve-category]").select_option("fraud")
    card.locator("button.illegal").click()
    page.wait_for_function("() => document.querySelectorAll('article.dispute').length === 1")
    assert page.saqshy_errors == []


def test_admin_refused_role_change_is_put_back(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    admin = seed.user(Role.ADMIN, locale="kk")
    seed.sources()
    kk = _dictionary("kk")
    page = live_server.page(browser)
    live_server.sign_in(page, admin)
    page.goto("/#/admin")
    own = page.locator(f"[data-testid=role-{admin.id}]")
    own.wait_for()
    own.select_option("volunteer")  # an admin may not change their own role
    assert _toast(page) == f"{kk['error.prefix']}: " + kk["errors.role_grant_forbidden"].replace(
        "{role}", kk["role.volunteer"])
    page.wait_for_function(f"() => document.querySelector('[data-testid=role-{admin.id}]').value === 'admin'")
    # Source kinds and column headers are translated.
    text = page.locator("main").inner_text()
    assert kk["source_kind.feed"] in text and kk["admin.url"] in text and kk["admin.email"] in text
    assert page.saqshy_errors == []


def _case(live_server: LiveServer, seed: Seed) -> None:
    first, second = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    seed.tasks(1)
    vote(live_server, first, "illegal")
    vote(live_server, second, "illegal")


def test_police_filter_by_label_and_confirmed_outcome(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    _case(live_server, seed)
    officer = seed.user(Role.POLICE, locale="ru")
    ru = _dictionary("ru")
    page = live_server.page(browser)
    live_server.sign_in(page, officer)
    page.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
    assert "Наркотики" in page.locator("[data-testid=cases]").inner_text()

    # The filter takes the category as people name it, in any language.
    for typed in ("Наркотики", "drugs", "Есірткі", "нарко"):
        page.fill("[data-testid=f-category]", typed)
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
        assert page.locator("[data-testid=filter-error]").inner_text() == ""
    page.fill("[data-testid=f-category]", "Оружие")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("[data-testid=cases] td.muted")
    page.fill("[data-testid=f-category]", "нет такой")
    page.click("form.filters button[type=submit]")
    assert page.locator("[data-testid=filter-error]").inner_text() == ru["case.category_unknown"].replace(
        "{text}", "нет такой")
    page.fill("[data-testid=f-category]", "")
    page.click("form.filters button[type=submit]")

    page.locator("[data-testid=cases] a[data-testid^=case-]").first.click()
    page.wait_for_selector("[data-testid=case-status]")
    # No outcome chosen for a case without one; Save alone closes nothing.
    assert page.locator("[data-testid=outcome]").input_value() == ""
    page.click("[data-testid=save-outcome]")
    assert _toast(page) == ru["case.outcome_required"]
    assert page.locator("[data-testid=confirm-close]").is_hidden()
    # A chosen outcome asks for confirmation; cancelling keeps the case open.
    page.select_option("[data-testid=outcome]", "takedown_requested")
    page.click("[data-testid=save-outcome]")
    confirm = page.locator("[data-testid=confirm-close]")
    assert confirm.is_visible() and "запрошено удаление" in confirm.inner_text()
    confirm.locator("button:not(.primary)").click()
    assert confirm.is_hidden()
    assert "status-new" in (page.get_attribute("[data-testid=case-status]", "class") or "")
    page.click("[data-testid=save-outcome]")
    page.keyboard.press("Enter")  # the confirm button has the focus
    page.wait_for_selector("[data-testid=case-status].status-closed")
    # The case's category and its decision trail are in Russian.
    facts = page.locator("dl.facts").inner_text()
    assert "Наркотики" in facts and "drugs" not in facts
    assert page.saqshy_errors == []


def test_invitation_asks_for_twelve_characters(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    moderator = seed.user(Role.MODERATOR)
    with closing(bearer(live_server, moderator)) as client:
        invite = client.post("/invites", json={"role": "volunteer"}).json()
        assert client.get("/users/me").json()["grantable_roles"] == ["volunteer"]
        # The server's rule: eleven characters are refused with a stable code, twelve accepted.
        short = client.post("/auth/register", json={"token": invite["token"], "email": "short@saqshy.test",
                                                    "password": "x" * 11, "locale": "en"})
        assert short.status_code == 422, short.text
        assert (short.json()["code"], short.json()["params"]) == ("password_too_short", {"min": 12})
    page = live_server.page(browser)
    page.goto(f"{live_server.url}/invite/{invite['token']}")
    page.wait_for_selector("#password")
    assert "12" in page.locator("label[for=password]").inner_text()
    page.fill("#email", "newcomer@saqshy.test")
    page.fill("#password", "x" * 11)
    page.click("button[type=submit]")
    assert page.locator("#password").evaluate("el => el.validity.tooShort")
    page.fill("#password", "tulip-rain-9")  # twelve characters that the password policy accepts
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=login-form]")
    assert page.saqshy_errors == []


def test_errors_are_translated_never_the_servers_english(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER, locale="kk")
    kk = _dictionary("kk")
    page = live_server.page(browser)
    page.goto("/")
    page.wait_for_selector("[data-testid=login-form]")
    page.click("[data-testid=lang-kk]")
    page.wait_for_function("() => document.documentElement.lang === 'kk'")
    page.fill("[data-testid=email]", volunteer.email)
    page.fill("[data-testid=password]", "not the password")
    page.click("[data-testid=login-submit]")
    page.wait_for_function("(m) => document.querySelector('p.error').textContent === m", arg=kk["errors.login_failed"])
    live_server.sign_in(page, volunteer)
    # A call the server refuses (a vote on a task that is not the volunteer's), shown by the page.
    message = page.evaluate("""async () => {
        const { api } = await import('/ui/js/api.js');
        const { errorMessage } = await import('/ui/js/app.js');
        try { await api.vote(999999, { verdict: 'legal' }); } catch (err) { return errorMessage(err); }
        return 'no error';
    }""")
    assert message == kk["errors.task_not_found"].replace("{id}", "999999")


def _routes(role: Role) -> list[str]:
    nav = {
        Role.VOLUNTEER: ["queue", "me", "settings"],
        Role.MODERATOR: ["queue", "me", "moderation", "settings"],
        Role.POLICE: ["police", "settings"],
        Role.ML_ENGINEER: ["ml", "settings"],
        Role.ADMIN: ["queue", "me", "moderation", "police", "ml", "admin", "settings"],
    }
    return nav[role]


def _overflow(page: Any) -> int:
    return int(page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth"))


def _small_targets(page: Any) -> list[str]:
    return list(page.evaluate("""() => [...document.querySelectorAll(
        'main button, main .button, main select, main input:not([type=checkbox]):not([type=radio]), nav button')]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => el.getBoundingClientRect().height < 43.5)
      .map((el) => `${el.tagName} ${el.className} ${el.textContent.slice(0, 20)}`)"""))


def test_every_staff_page_fits_a_phone_and_a_laptop(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    from tests.review_ui.test_ml_view import write_registry_version

    write_registry_version(seed.ctx.settings.models_dir, "20261121-093000-head-5e6f7a8b",
                           "2026-11-21T09:30:00+00:00", production=True, seed=2)
    _disputed(live_server, seed, overall=0.95)
    _case(live_server, seed)
    problems: list[str] = []
    for role in Role:
        user = seed.user(role)
        page = live_server.page(browser)
        live_server.sign_in(page, user)
        routes = _routes(role)
        if role == Role.POLICE:
            page.goto("/#/police")
            page.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
            routes.append(page.locator("[data-testid=cases] a[data-testid^=case-]").first.get_attribute("href")[2:])
        for locale in ("ru", "kk", "en"):
            page.click(f"[data-testid=lang-{locale}]")
            page.wait_for_function(f"() => document.documentElement.lang === '{locale}'")
            for route in routes:
                page.goto(f"/#/{route}")
                page.wait_for_load_state("networkidle")
                for size in (NARROW, WIDE):
                    page.set_viewport_size(size)
                    page.wait_for_timeout(50)
                    where = f"{role.value} {locale} {route} {size['width']}px"
                    if (extra := _overflow(page)) > 0:
                        problems.append(f"{where}: {extra} px too wide")
                    if size is NARROW and (small := _small_targets(page)):
                        problems.append(f"{where}: targets under 44 px: {small[:3]}")
        assert page.saqshy_errors == []
    assert problems == []
