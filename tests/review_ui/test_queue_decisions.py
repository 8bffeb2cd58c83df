"""Every decision in the volunteer queue is deliberate: a held key, a double click, Space after a
click, a key behind a dialog or a bounced key never casts a vote; shortcuts follow physical keys on
any layout; highlights mark exactly the flagged words; a vote can be undone for a moment."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import pytest

from saqshy.db.models import Role, User
from tests.review_ui.conftest import ARMED_ITEM, LiveServer, Seed
from tests.review_ui.test_story import live_server_client

pytestmark = pytest.mark.integration

SHOWN = "#item[data-task-id]:not([data-task-id=''])"


def _task(page: Any) -> str:
    return str(page.get_attribute("#item", "data-task-id") or "")


def _wait_for_other_item(page: Any, before: str) -> None:
    page.wait_for_function("(b) => document.getElementById('item').dataset.taskId !== b", arg=before)


def _votes(live_server: LiveServer, user: Any) -> list[dict[str, Any]]:
    with closing(live_server_client(live_server, user)) as client:
        return list(client.get("/votes/mine").json()["items"])


def _open_queue(live_server: LiveServer, browser: Any, user: Any, **context_args: Any) -> Any:
    page = live_server.page(browser, **context_args)
    live_server.sign_in(page, user)
    page.wait_for_selector(ARMED_ITEM)
    return page


def _settle(page: Any) -> None:
    """Let any vote a stray event might have started reach the server and the screen."""
    page.wait_for_timeout(400)


def test_holding_a_vote_key_casts_one_vote(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(8)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    # Held for about half a second: the first keydown, then the key's auto-repeats.
    for _ in range(12):
        page.keyboard.down("2")
        page.wait_for_timeout(45)
    page.keyboard.up("2")
    _settle(page)
    assert [(str(v["task_id"]), v["verdict"]) for v in _votes(live_server, volunteer)] == [(first, "legal")]
    assert page.saqshy_errors == []


# A bounce lands on the next item the moment it shows, whatever the machine's load: the page itself
# sends it from a MutationObserver (the page's CSP allows no eval, hence a fixed set of bounces).
BOUNCE_ON_NEXT_ITEM = """(bounce) => {
  const card = document.getElementById('item');
  const before = card.dataset.taskId;
  const observer = new MutationObserver(() => {
    if (!card.dataset.taskId || card.dataset.taskId === before) return;
    observer.disconnect();
    if (bounce.click) document.querySelector(bounce.click).click();
    else document.activeElement.dispatchEvent(
      new KeyboardEvent('keydown', { key: bounce.key, code: bounce.code, bubbles: true, cancelable: true }));
    window.saqshyBounced = true;
  });
  observer.observe(card, { attributes: true, attributeFilter: ['data-task-id'] });
}"""


def _bounce_on_next_item(page: Any, bounce: dict[str, str]) -> None:
    page.evaluate("() => { window.saqshyBounced = false; }")
    page.evaluate(BOUNCE_ON_NEXT_ITEM, bounce)


def test_a_double_click_decides_one_item(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    # The second click of a double click lands on the next item.
    _bounce_on_next_item(page, {"click": "button[data-key='2']"})
    page.locator("button[data-key='2']").click()
    _wait_for_other_item(page, first)
    _settle(page)
    assert page.evaluate("() => window.saqshyBounced")
    assert len(_votes(live_server, volunteer)) == 1
    # A bounced key is the same: a fresh item takes no decision for a moment.
    page.wait_for_selector(ARMED_ITEM)
    second = _task(page)
    _bounce_on_next_item(page, {"key": "1", "code": "Digit1"})
    page.keyboard.press("1")
    _wait_for_other_item(page, second)
    _settle(page)
    assert page.evaluate("() => window.saqshyBounced")
    assert len(_votes(live_server, volunteer)) == 2


def test_space_or_enter_after_a_click_does_not_vote(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    page.click("button[data-key='2']")
    _wait_for_other_item(page, first)
    page.wait_for_selector(ARMED_ITEM)
    second = _task(page)
    assert page.evaluate("() => document.activeElement.id") == "item", "no button keeps the focus"
    page.keyboard.press("Space")  # to scroll
    page.keyboard.press("Enter")
    _settle(page)
    assert _task(page) == second
    assert [str(v["task_id"]) for v in _votes(live_server, volunteer)] == [first]


def _focus_stays_in(page: Any, testid: str, presses: int = 8) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "(id) => Boolean(document.activeElement && document.activeElement.closest(`[data-testid=${id}]`))", testid)
        assert inside, f"Tab left the {testid} dialog for {page.evaluate('() => document.activeElement.outerHTML')}"


def test_help_dialog_holds_the_focus(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(2)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    page.keyboard.press("?")
    page.wait_for_selector("[data-testid=help]")
    _focus_stays_in(page, "help")
    page.keyboard.press("2")
    page.keyboard.press("Enter")  # on the dialog's own button: it closes, nothing behind it is pressed
    page.wait_for_selector("[data-testid=help]", state="detached")
    assert page.evaluate("() => document.activeElement.id") == "item", "the focus came back"
    _settle(page)
    assert _task(page) == first
    assert _votes(live_server, volunteer) == []


STRETCH = (
    "sessionStorage.setItem('saqshy.stretch', JSON.stringify({start: Date.now() - 3 * 3600e3, last: Date.now()}));"
)


def test_break_reminder_holds_focus_and_escape_means_later(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(4)
    page = live_server.page(browser)
    page.add_init_script(STRETCH)  # three hours of reviewing without a break
    live_server.sign_in(page, volunteer)
    page.wait_for_selector(ARMED_ITEM)
    first = _task(page)
    page.keyboard.press("2")
    page.wait_for_selector("[data-testid=break-reminder]")
    _wait_for_other_item(page, first)
    second = _task(page)
    _focus_stays_in(page, "break-reminder")
    page.keyboard.press("1")
    _settle(page)
    assert _task(page) == second and len(_votes(live_server, volunteer)) == 1, "no vote behind the dialog"
    page.keyboard.press("Escape")  # later
    page.wait_for_selector("[data-testid=break-reminder]", state="detached")
    page.wait_for_selector(ARMED_ITEM)
    page.keyboard.press("2")
    _wait_for_other_item(page, second)
    _settle(page)
    assert page.locator("[data-testid=break-reminder]").count() == 0, "Esc meant later: no reminder after the next vote"
    assert len(_votes(live_server, volunteer)) == 2
    assert page.saqshy_errors == []


def _physical_key(page: Any, key: str, code: str) -> None:
    """A keydown as a Russian or Kazakh layout sends it: the character differs, the physical key not."""
    page.evaluate(
        "([key, code]) => document.activeElement.dispatchEvent("
        "new KeyboardEvent('keydown', { key, code, bubbles: true, cancelable: true }))",
        [key, code],
    )


def test_shortcuts_follow_physical_keys_on_any_layout(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    _physical_key(page, "ы", "KeyS")  # s: skip
    _wait_for_other_item(page, first)
    page.wait_for_selector(ARMED_ITEM)
    second = _task(page)
    _physical_key(page, "ә", "Digit2")  # 2 on the Kazakh layout: legal
    _wait_for_other_item(page, second)
    page.wait_for_selector(ARMED_ITEM)
    _physical_key(page, "т", "KeyN")  # n: the note
    assert page.evaluate("() => document.activeElement.id") == "note"
    page.keyboard.press("Escape")
    _physical_key(page, "г", "KeyU")  # u: undo the last vote
    page.wait_for_function("(id) => document.getElementById('item').dataset.taskId === id", arg=second)
    assert _votes(live_server, volunteer) == []


TITLED = {
    "title": "Свежие закладки 😀 в наличии",
    "text": "Пишите 🚀 в личку. Оплата криптой, доставка по городу.",
}
EMOJI = {"title": "", "text": "🚀🚀 Есть закладки здесь, 👍🏽 Оплата криптой и наличными."}


def test_highlights_mark_exactly_the_flagged_words(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    items = [
        {**item, "url": f"https://t.me/s/almaty_market/marks{n}", "language": "ru"}
        for n, item in enumerate((TITLED, EMOJI))
    ]
    # The seed's spans are found by Python (code points) in what the classifier scores:
    # the title, a newline, the text ("закладки" and "Оплата криптой").
    seed.tasks(2, items=items)
    page = _open_queue(live_server, browser, volunteer)
    assert page.locator("[data-testid=item-title] mark").all_inner_texts() == ["закладки"]
    assert page.locator("[data-testid=item-text] mark").all_inner_texts() == ["Оплата криптой"]
    first = _task(page)
    page.keyboard.press("2")
    _wait_for_other_item(page, first)
    page.wait_for_selector(SHOWN)
    assert page.locator("[data-testid=item-title]").count() == 0
    assert page.locator("[data-testid=item-text] mark").all_inner_texts() == ["закладки", "Оплата криптой"]
    assert page.saqshy_errors == []


def test_undo_brings_the_item_back_with_its_note(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    page.keyboard.press("n")
    page.keyboard.type("looks like an advert")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    _wait_for_other_item(page, first)
    toast = page.locator("[data-testid=undo-toast]")
    toast.wait_for()
    assert "Legal" in toast.inner_text()
    page.wait_for_selector(ARMED_ITEM)
    page.keyboard.press("u")
    page.wait_for_function("(id) => document.getElementById('item').dataset.taskId === id", arg=first)
    assert page.input_value("#note") == "looks like an advert"
    assert toast.is_hidden()
    assert _votes(live_server, volunteer) == []
    # The button does the same; then a new vote stands.
    page.wait_for_selector(ARMED_ITEM)
    page.keyboard.press("1")
    _wait_for_other_item(page, first)
    page.click("[data-testid=undo]")
    page.wait_for_function("(id) => document.getElementById('item').dataset.taskId === id", arg=first)
    page.wait_for_selector(ARMED_ITEM)
    page.keyboard.press("3")
    _wait_for_other_item(page, first)
    _settle(page)
    assert [(str(v["task_id"]), v["verdict"], v["note"]) for v in _votes(live_server, volunteer)] == [
        (first, "unsure", "looks like an advert")]
    assert page.saqshy_errors == []


def test_note_survives_a_language_switch(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(2)
    page = _open_queue(live_server, browser, volunteer)
    first = _task(page)
    page.fill("#note", "half-written note")
    page.select_option("#vote-category", "fraud")
    # The switch redraws the page: wait for the new item, not the old one still on screen meanwhile.
    page.evaluate("document.getElementById('item').dataset.before = '1'")
    page.click("[data-testid=lang-kk]")
    page.wait_for_function("() => document.documentElement.lang === 'kk'")
    page.wait_for_selector("#item[data-armed]:not([data-before])")
    assert _task(page) == first
    assert page.input_value("#note") == "half-written note"
    assert page.input_value("#vote-category") == "fraud"


def _set_daily_cap(seed: Seed, user: User, cap: int) -> None:
    from triage_api.services.wellbeing import PREFERENCES_KEY

    with seed.ctx.sessions.begin() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.preferences = {**(row.preferences or {}), PREFERENCES_KEY: {"daily_cap": cap}}


def test_no_decision_without_an_item(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    capped = seed.user(Role.VOLUNTEER)
    _set_daily_cap(seed, capped, 1)
    seed.tasks(2)
    for user, remaining in ((volunteer, 2), (capped, 1)):
        page = _open_queue(live_server, browser, user)
        for _ in range(remaining):
            page.wait_for_selector(ARMED_ITEM)
            before = _task(page)
            page.keyboard.press("2")
            _wait_for_other_item(page, before)
        page.wait_for_selector("[data-testid=queue-empty]")
        for key in "123s":
            assert page.locator(f"button[data-key='{key}']").is_disabled()
        page.keyboard.press("2")
        _settle(page)
        assert len(_votes(live_server, user)) == remaining
        assert page.saqshy_errors == []


def test_media_caption_follows_the_blur(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    from tests.review_ui.test_media_view import add_media

    volunteer = seed.user(Role.VOLUNTEER)
    (item_id,) = seed.tasks(1)
    add_media(seed, item_id)
    page = _open_queue(live_server, browser, volunteer)
    page.wait_for_selector("[data-testid=media]")
    captions = page.locator("[data-testid=media-caption]")
    assert captions.all_inner_texts() == ["Blurred. Click to reveal"] * 2
    page.locator("[data-testid=media]").nth(0).click()
    assert captions.all_inner_texts() == ["Shown. Click to blur", "Blurred. Click to reveal"]
    page.keyboard.press("m")
    assert captions.all_inner_texts() == ["Shown. Click to blur"] * 2
    page.keyboard.press("m")
    assert captions.all_inner_texts() == ["Blurred. Click to reveal"] * 2


def _wait_for_in_queue(page: Any, count: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelector('[data-testid=in-queue]').innerText === `In the queue: ${n}`", arg=count
    )


def test_filter_by_language_and_category(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(6)  # languages ru, kk, en in turn; all drugs
    page = _open_queue(live_server, browser, volunteer)
    page.select_option("[data-testid=filter-language]", "kk")
    for more in (1, 0):
        page.wait_for_function("() => /: kk$/m.test(document.querySelector('#item .meta').innerText)")
        page.wait_for_selector(ARMED_ITEM)
        # The queue's progress: how many more this filter holds after the item on screen.
        _wait_for_in_queue(page, more)
        before = _task(page)
        page.keyboard.press("2")
        _wait_for_other_item(page, before)
    page.wait_for_selector("[data-testid=queue-empty]")
    assert page.locator("[data-testid=queue-empty]").inner_text() == "Nothing to review with these filters"
    page.select_option("[data-testid=filter-language]", "")
    page.select_option("[data-testid=filter-category]", "fraud")
    page.wait_for_selector("[data-testid=queue-empty]")
    page.select_option("[data-testid=filter-category]", "")
    page.wait_for_selector(ARMED_ITEM)
    _wait_for_in_queue(page, 3)  # six tasks: two decided by this volunteer, one on screen
    # The choice is remembered on this device.
    page.reload()
    page.wait_for_selector(ARMED_ITEM)
    assert page.input_value("[data-testid=filter-language]") == ""
    assert len(_votes(live_server, volunteer)) == 2
    assert page.saqshy_errors == []


def test_queue_left_while_claiming_gives_the_task_back(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer, other = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    seed.tasks(1)
    page = live_server.page(browser)
    held: list[Any] = []
    page.route("**/tasks/claim*", lambda route: held.append(route))
    live_server.sign_in(page, volunteer)  # the queue opens and claims: the claim is held on its way
    while not held:
        page.wait_for_timeout(50)
    page.click("[data-testid=nav-settings]")
    page.wait_for_selector("[data-testid=exposure]")
    # The claim answers now: the queue left behind gives its task back, and its keys no longer vote.
    with page.expect_response(lambda response: "/lease" in response.url and response.request.method == "DELETE"):
        held[0].continue_()
    page.keyboard.press("1")
    _settle(page)
    assert _votes(live_server, volunteer) == []
    with closing(live_server_client(live_server, other)) as client:
        assert client.post("/tasks/claim").status_code == 200, "the task is still leased to the page left"
    assert page.saqshy_errors == []


def _hold_first(page: Any, url_pattern: str) -> list[Any]:
    """Hold the first request to ``url_pattern`` on its way (the test continues it); let later ones through."""
    held: list[Any] = []
    page.route(url_pattern, lambda route: route.continue_() if held else held.append(route))
    return held


@pytest.mark.parametrize("held_request", ["**/wellbeing/me", "**/tasks/claim*"])
def test_queue_opened_again_at_once_keeps_its_task(
    live_server: LiveServer, browser: Any, seed: Seed, held_request: str
) -> None:
    """Left while still loading (before it claimed, or with its claim on the way) and opened again:
    the queue left behind gives nothing back from under the new one."""
    volunteer, other = seed.user(Role.VOLUNTEER), seed.user(Role.VOLUNTEER)
    seed.tasks(1)
    page = live_server.page(browser)
    held = _hold_first(page, held_request)
    live_server.sign_in(page, volunteer)
    while not held:
        page.wait_for_timeout(50)
    page.click("[data-testid=nav-settings]")
    page.wait_for_selector("[data-testid=exposure]")
    page.click("[data-testid=nav-queue]")
    held[0].continue_()
    page.wait_for_selector(ARMED_ITEM)
    _settle(page)
    with closing(live_server_client(live_server, other)) as client:
        assert client.post("/tasks/claim").status_code == 204, "the task on screen was given back"
    page.keyboard.press("1")
    _settle(page)
    assert [v["verdict"] for v in _votes(live_server, volunteer)] == ["illegal"]
    assert page.saqshy_errors == []
