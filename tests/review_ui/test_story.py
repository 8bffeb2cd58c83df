"""The end-to-end story of issue 6 in a real headless Chromium against a running server."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from saqshy.db.models import Role
from tests.review_ui.conftest import ARMED_ITEM, LiveServer, Seed

pytestmark = pytest.mark.integration


def _current_task(page: Any) -> str:
    return str(page.get_attribute("#item", "data-task-id") or "")


def _decide_by_key(page: Any, key: str) -> None:
    """Press a decision key and wait until a different item (or the empty queue) is on screen."""
    page.wait_for_selector(ARMED_ITEM)
    before = _current_task(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "(before) => { const el = document.getElementById('item');"
        " return el && el.dataset.taskId !== before; }",
        arg=before,
    )


def test_volunteers_to_police_and_back(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path, tmp_path: Path
) -> None:
    first = seed.user(Role.VOLUNTEER)
    second = seed.user(Role.VOLUNTEER)
    officer = seed.user(Role.POLICE)
    seed.tasks(3)

    # A volunteer signs in and reviews three items by keyboard alone.
    page = live_server.page(browser)
    live_server.sign_in(page, first)
    page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
    assert page.locator("[data-testid=item-text] mark").count() >= 1, "the explanation's spans are highlighted"
    assert page.locator("[data-testid=item-url]").inner_text().startswith("https://t.me/s/almaty_market/")
    assert page.locator("[data-testid=lease-timer]").inner_text().strip() != ""
    page.screenshot(path=str(screenshots / "volunteer-queue.png"), full_page=True)
    seen: list[str] = []
    for _ in range(3):
        seen.append(_current_task(page))
        _decide_by_key(page, "1")
    assert len(set(seen)) == 3
    page.wait_for_selector("[data-testid=queue-empty]")

    # A second volunteer agrees on all three: each becomes a case.
    other = live_server.page(browser)
    live_server.sign_in(other, second)
    other.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
    for _ in range(3):
        _decide_by_key(other, "1")
    other.wait_for_selector("[data-testid=queue-empty]")

    # The police officer sees the cases, opens one, downloads the evidence, acknowledges, sets an outcome.
    police = live_server.page(browser)
    live_server.sign_in(police, officer)
    police.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
    assert police.locator("[data-testid=cases] a[data-testid^=case-]").count() == 3
    police.locator("[data-testid=cases] a[data-testid^=case-]").first.click()
    police.wait_for_selector("[data-testid=case-status]")
    police.wait_for_selector("table.trail tbody tr:nth-child(2)")
    assert "закладки" in police.locator("[data-testid=item-text]").inner_text()
    police.screenshot(path=str(screenshots / "police-case.png"), full_page=True)
    with police.expect_download() as download_info:
        police.click("[data-testid=evidence-zip]")
    bundle = tmp_path / "evidence.zip"
    download_info.value.save_as(bundle)
    _check_bundle(bundle, live_server, police)
    police.click("[data-testid=acknowledge]")
    police.wait_for_selector("[data-testid=case-status].status-acknowledged")
    police.select_option("[data-testid=outcome]", "takedown_requested")
    police.click("[data-testid=save-outcome]")
    police.click("[data-testid=confirm-close-yes]")
    police.wait_for_selector("[data-testid=case-status].status-closed")

    # The first volunteer sees the outcome on their own page.
    page.goto("/#/me")
    page.wait_for_selector("[data-testid=case-outcome]")
    outcomes = page.locator("[data-testid=case-outcome]").all_inner_texts()
    assert any(re.search("takedown", text) for text in outcomes)

    for p in (page, other, police):
        assert live_server.foreign_requests(p) == []
        assert p.saqshy_errors == []


def _check_bundle(bundle: Path, live_server: LiveServer, page: Any) -> None:
    from triage_api.services import evidence

    key = page.request.get(f"{live_server.url}/cases/evidence-public-key")
    assert key.ok
    report = evidence.verify_bundle(bundle, evidence.load_public_key(key.body()))
    assert getattr(report, "ok", report), report


def test_keys_help_note_skip(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(3)
    page = live_server.page(browser)
    live_server.sign_in(page, volunteer)
    page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
    page.keyboard.press("?")
    page.wait_for_selector("[data-testid=help]")
    page.keyboard.press("1")  # ignored while the help is open
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=help]", state="detached")
    first = _current_task(page)
    page.keyboard.press("n")
    assert page.evaluate("() => document.activeElement.id") == "note"
    page.keyboard.type("2 is not a vote while typing a note")
    assert _current_task(page) == first
    page.keyboard.press("Escape")
    # Skip gives the lease back and the API does not serve that task to this volunteer again this
    # shift (skip memory): the next item appears. The note typed for the skipped one is cleared.
    _decide_by_key(page, "s")
    second = _current_task(page)
    assert second and second != first
    assert page.input_value("#note") == ""
    _decide_by_key(page, "2")
    with closing(live_server_client(live_server, volunteer)) as client:
        votes = client.get("/votes/mine").json()["items"]
    assert [(str(v["task_id"]), v["verdict"]) for v in votes] == [(second, "legal")]
    assert votes[0]["note"] is None, "the note typed on the skipped item was not sent with another vote"


def live_server_client(live_server: LiveServer, user: Any) -> Any:
    import httpx

    from tests.review_ui.conftest import PASSWORD

    client = httpx.Client(base_url=live_server.url, trust_env=False, timeout=10)
    token = client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _seconds_left(page: Any) -> int:
    text = page.locator("[data-testid=lease-timer]").inner_text()
    minutes, seconds = re.findall(r"(\d+):(\d\d)", text)[0]
    return int(minutes) * 60 + int(seconds)


def test_lease_is_extended_while_active(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    seed.tasks(1)
    page = live_server.page(browser)
    page.clock.install()
    extends: list[str] = []
    page.on("request", lambda r: extends.append(r.url) if r.method == "POST" and r.url.endswith("/lease") else None)
    live_server.sign_in(page, volunteer)
    page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
    assert _seconds_left(page) > 590
    first_expiry = _lease_expiry(seed)
    # Recently active (the sign-in keys): the lease is extended every 20 s for a while...
    page.clock.run_for(100_000)
    active_extends = len(extends)
    assert active_extends >= 3
    # ...then, idle, it runs down and is no longer extended.
    page.clock.run_for(120_000)
    assert len(extends) == active_extends
    idle_left = _seconds_left(page)
    assert idle_left < 560
    # Active again: the next tick extends it, and the timer shows the new expiry.
    with page.expect_response(lambda r: r.url.endswith("/lease") and r.request.method == "POST") as answer:
        page.mouse.move(200, 200)
        page.clock.run_for(2_000)
    assert answer.value.ok
    assert len(extends) == active_extends + 1
    assert _lease_expiry(seed) > first_expiry, "the server holds the extended lease"


def _lease_expiry(seed: Seed) -> Any:
    from sqlalchemy import select

    from saqshy.db.models import ReviewTask

    with seed.ctx.sessions() as session:
        return session.scalars(select(ReviewTask.lease_expires_at)).one()
