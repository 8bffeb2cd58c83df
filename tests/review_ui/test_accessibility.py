"""Every screen, for each role that sees it, in the light and the dark palette: no serious or
critical axe-core finding. Dark mode follows the system preference; keyboard basics of the shell."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from saqshy.db.models import Case, ReviewTask, Role, TaskStatus, Verdict, utcnow
from tests.review_ui.a11y import assert_accessible
from tests.review_ui.conftest import ARMED_ITEM, LiveServer, Seed, bearer, vote

pytestmark = pytest.mark.integration

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
STRETCH = "(start) => sessionStorage.setItem('saqshy.stretch', JSON.stringify({start, last: Date.now()}))"


@dataclass(frozen=True)
class Screen:
    """A page to check: where it is, what shows it is drawn, who sees it."""

    name: str
    path: str
    ready: str
    roles: tuple[Role, ...]


STAFF = (Role.VOLUNTEER, Role.MODERATOR, Role.ADMIN)
# New screens join this list (the check signs in as each role and walks the screens it may see).
SCREENS: list[Screen] = [
    Screen("queue", "/#/queue", "[data-testid=item-text], [data-testid=queue-empty]", STAFF),
    Screen("me", "/#/me", "main h1", STAFF),
    Screen("my-decision", "/#/me/decision/{task_id}", "[data-testid=decision-item] [data-testid=item-text]", STAFF),
    Screen("moderation", "/#/moderation", "article.dispute", (Role.MODERATOR, Role.ADMIN)),
    Screen("reposts", "/#/moderation", "[data-testid=repost]", (Role.MODERATOR, Role.ADMIN)),
    Screen("police", "/#/police", "[data-testid=cases]", (Role.POLICE, Role.ADMIN)),
    Screen("case", "/#/cases/{case_id}", "main h1", (Role.POLICE, Role.ADMIN)),
    Screen("ml", "/#/ml", "main h1", (Role.ML_ENGINEER, Role.ADMIN)),
    Screen("ml-drift", "/#/ml", "[data-testid=drift-status]", (Role.ML_ENGINEER, Role.ADMIN)),
    Screen("admin", "/#/admin", "main table.grid select", (Role.ADMIN,)),
    Screen("settings", "/#/settings", "[data-testid=exposure]", tuple(Role)),
    Screen("search", "/#/search", "[data-testid=search-category]", (Role.MODERATOR, Role.POLICE, Role.ADMIN)),
    Screen("gold", "/#/gold", "[data-testid=gold-tasks]", (Role.MODERATOR, Role.ADMIN)),
    Screen("sources", "/#/sources", "[data-testid=source-form]", (Role.MODERATOR, Role.ADMIN)),
    Screen("audit", "/#/audit", "[data-testid=audit-chain]", (Role.ADMIN,)),
]


def _dispute_and_case(live_server: LiveServer, seed: Seed) -> int:
    """Two volunteers disagree on one task (moderation has work); another task is decided into a
    case, and a near-duplicate of its item arrives after (a repost for moderators, a case member)."""
    from triage_api.services import cases

    seed.tasks(8)
    for verdict in ("illegal", "legal"):
        with closing(bearer(live_server, seed.user(Role.VOLUNTEER))) as client:
            task = client.post("/tasks/claim").json()
            assert client.post(f"/tasks/{task['id']}/votes", json={"verdict": verdict}).status_code == 201
    with seed.ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask).where(ReviewTask.status == TaskStatus.OPEN)).first()
        assert task is not None
        task.status, task.decision, task.decided_category, task.decided_at = (
            TaskStatus.DECIDED, Verdict.ILLEGAL, "drugs", utcnow())
        task.cluster_id = task.item.cluster_id = cluster = task.item_id
        case_id = cases.open_case(session, task, seed.ctx.settings, actor_id=None).id
    seed.tasks(1, items=[{"url": f"https://t.me/s/almaty_market/repost-{cluster}", "language": "ru",
                          "title": "Закладки", "text": "Продаю закладки, доставка по Алматы.", "cluster_id": cluster}])
    return case_id


def _save(page: Any, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / name), full_page=True)


def _show(page: Any, screen: Screen, case_id: int, task_id: int = 0) -> None:
    page.goto(screen.path.format(case_id=case_id, task_id=task_id))
    page.wait_for_selector(screen.ready)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_screen_passes_axe(live_server: LiveServer, browser: Any, seed: Seed, scheme: str) -> None:
    case_id = _dispute_and_case(live_server, seed)
    failures: list[str] = []

    def check(page: Any, where: str) -> None:
        try:
            assert_accessible(page, f"{where} ({scheme})")
        except AssertionError as err:
            failures.append(str(err))

    page = live_server.page(browser, color_scheme=scheme)
    page.goto("/#/login")
    page.wait_for_selector("[data-testid=login-form]")
    check(page, "login")
    page.context.close()
    with seed.ctx.sessions() as session:
        case_task_id = session.get_one(Case, case_id).task_id
    for role in Role:
        user = seed.user(role)
        # A volunteer's own decision; staff open the case's task (no vote of theirs).
        task_id = vote(live_server, user, "illegal", "drugs") if role is Role.VOLUNTEER else case_task_id
        page = live_server.page(browser, color_scheme=scheme)
        live_server.sign_in(page, user)
        for screen in SCREENS:
            if role in screen.roles:
                _show(page, screen, case_id, task_id)
                check(page, f"{screen.name} as {role.value}")
                # Crawled text is read in its own language by assistive technology.
                langs = page.eval_on_selector_all("[data-testid=item-text]", "(els) => els.map((e) => e.lang)")
                if not set(langs) <= {"ru", "kk", "en"}:
                    failures.append(f"{screen.name} as {role.value}: item text languages {langs}")
        if role is Role.VOLUNTEER:
            # The queue's dialogs: the keyboard help, and the break reminder after a long stretch.
            _show(page, SCREENS[0], case_id)
            page.keyboard.press("?")
            page.wait_for_selector("[data-testid=help]")
            check(page, "queue help dialog")
            page.keyboard.press("Escape")
            # A stretch that began three hours ago: the next decision brings the reminder.
            page.evaluate(STRETCH, int((time.time() - 3 * 3600) * 1000))
            page.reload()
            page.wait_for_selector(ARMED_ITEM)
            page.keyboard.press("3")
            page.wait_for_selector("[data-testid=break-reminder]")
            check(page, "wellbeing break reminder")
        page.context.close()
    assert not failures, "\n".join(failures)


def _luminance(css_rgb: str) -> float:
    """Relative luminance (WCAG) of a computed ``rgb(r, g, b)`` colour."""
    channels = [int(v) / 255 for v in css_rgb[css_rgb.index("(") + 1:css_rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


# The text colour and the first opaque background behind it.
COLOURS = """(s) => {
  const el = document.querySelector(s);
  let at = el;
  while (at && getComputedStyle(at).backgroundColor === "rgba(0, 0, 0, 0)") at = at.parentElement;
  return [getComputedStyle(el).color, at ? getComputedStyle(at).backgroundColor : "rgb(255, 255, 255)"];
}"""


def _contrast(page: Any, selector: str) -> float:
    fg, bg = page.evaluate(COLOURS, selector)
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_palette_follows_the_system_preference(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path, scheme: str
) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(1)
    page = live_server.page(browser, color_scheme=scheme)
    live_server.sign_in(page, volunteer)
    page.wait_for_selector("[data-testid=item-text] mark")
    background = page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")
    if scheme == "dark":
        assert _luminance(background) < 0.05, background
    else:
        assert _luminance(background) > 0.8, background
    assert page.evaluate("() => getComputedStyle(document.documentElement).colorScheme") == "light dark"
    # The highlights and the item text stay readable (WCAG AA) in either palette.
    for selector in ("[data-testid=item-text]", "[data-testid=item-text] mark", "main h1", "button.illegal"):
        assert _contrast(page, selector) >= 4.5, (scheme, selector)
    _save(page, screenshots, f"queue-{scheme}.png")


def test_exposure_settings_blur_the_text_until_revealed(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    volunteer = seed.user(Role.VOLUNTEER, locale="kk")
    seed.tasks(2)
    page = live_server.page(browser, color_scheme="dark")
    live_server.sign_in(page, volunteer)
    page.goto("/#/settings")
    page.wait_for_selector("[data-testid=exposure]")
    # By keyboard: type a bad limit, then a good one, and tick the text blur of the same row.
    page.focus("[data-testid=budget-drugs]")
    page.keyboard.type("-1")
    page.click("[data-testid=save-wellbeing]")
    page.wait_for_selector(".toast.error:not([hidden])")
    assert page.evaluate("() => document.activeElement.dataset.budget") == "drugs", "focus goes to the bad field"
    with closing(bearer(live_server, volunteer)) as client:
        drugs = next(c for c in client.get("/wellbeing/me").json()["categories"] if c["name"] == "drugs")
    assert drugs["own_daily_budget"] is None and not drugs["blur_text"], "a refused form changes nothing"
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.blur") == "drugs"
    page.keyboard.press("Space")
    page.click("[data-testid=save-wellbeing]")
    page.wait_for_selector(".toast:not(.error):not([hidden])")
    with closing(bearer(live_server, volunteer)) as client:
        drugs = next(c for c in client.get("/wellbeing/me").json()["categories"] if c["name"] == "drugs")
    assert drugs["own_daily_budget"] == 5 and drugs["blur_text"]
    page.set_viewport_size({"width": 390, "height": 900})
    page.reload()
    page.wait_for_selector("[data-testid=exposure]")
    assert page.evaluate(OVERFLOW) == 0, "the settings fit a phone"
    _save(page, screenshots, "settings-exposure-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto("/#/queue")
    text = page.locator("[data-testid=item-text]")
    text.wait_for()
    blurred = "() => document.querySelector('[data-testid=item-text]').classList.contains('blurred')"
    filtered = "() => getComputedStyle(document.querySelector('[data-testid=item-text]')).filter"
    assert page.evaluate(blurred) and "blur" in page.evaluate(filtered)
    _save(page, screenshots, "queue-text-blurred.png")
    assert text.get_attribute("lang") in ("ru", "kk", "en"), "the item text carries its language"
    page.keyboard.press("m")
    assert not page.evaluate(blurred) and page.evaluate(filtered) == "none"
    page.keyboard.press("m")
    assert page.evaluate(blurred)
    text.click()
    assert not page.evaluate(blurred)
    page.click("[data-testid=reveal-text]")
    assert page.evaluate(blurred), "the button blurs it again"
    # The own limit is counted in the queue's wellbeing bar as the volunteer decides.
    assert page.locator("[data-testid=own-budget-drugs]").inner_text().endswith(" 0/5")
    page.wait_for_selector(ARMED_ITEM)
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('[data-testid=own-budget-drugs]').textContent.endsWith('1/5')")
    assert page.saqshy_errors == []


def test_shell_by_keyboard(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER, locale="ru")
    seed.tasks(1)
    page = live_server.page(browser)
    live_server.sign_in(page, volunteer)
    page.wait_for_selector("[data-testid=item-text], [data-testid=queue-empty]")
    assert page.evaluate("() => document.documentElement.lang") == "ru"
    # The first Tab reaches the skip link; Enter takes the focus past the navigation. (On the queue
    # the item itself takes the focus when it shows: the page's content needs no skipping to.)
    page.goto("/#/me")
    page.reload()
    page.wait_for_selector("[data-testid=skip]", state="attached")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.testid") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # A route followed from the navigation by keyboard: the focus moves to the new page.
    page.focus("[data-testid=nav-settings]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=exposure]")
    page.wait_for_function("() => document.activeElement.id === 'main'")
    # <html lang> follows the interface language.
    page.focus("[data-testid=lang-kk]")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('[data-testid=nav-queue]').textContent === 'Кезек'")
    assert page.evaluate("() => document.documentElement.lang") == "kk"
    assert page.evaluate("() => document.activeElement.dataset.testid") == "lang-kk", "the focus stays in place"
    assert page.locator("nav").get_attribute("aria-label") == "Негізгі навигация"


def test_a_page_left_while_loading_draws_nothing_into_the_next(
    live_server: LiveServer, browser: Any, seed: Seed
) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    page = live_server.page(browser)
    live_server.sign_in(page, volunteer)
    held: list[Any] = []
    page.route("**/votes/mine*", lambda route: held.append(route))
    page.goto("/#/me")
    page.wait_for_function("() => document.querySelector('main h1') !== null")
    page.goto("/#/settings")
    page.wait_for_selector("[data-testid=exposure]")
    while not held:
        page.wait_for_timeout(50)
    # The page left gets its answers now, and goes on loading (its last request is for the outcomes).
    with page.expect_response(lambda response: "/outcomes" in response.url):
        held[0].continue_()
    page.wait_for_timeout(300)
    assert page.locator("main section.stats").count() == 0, "My decisions drew into Settings"
    assert page.locator("main h1").count() == 1
