"""Every screen, for each role that sees it, in the light and the dark palette: no serious or
critical axe-core finding. Dark mode follows the system preference; keyboard basics of the shell."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from saqshy.db.models import ReviewTask, Role, TaskStatus, User, Verdict, utcnow
from tests.review_ui.a11y import assert_accessible
from tests.review_ui.conftest import PASSWORD, LiveServer, Seed

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots-a11y")


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
    Screen("moderation", "/#/moderation", "article.dispute", (Role.MODERATOR, Role.ADMIN)),
    Screen("police", "/#/police", "[data-testid=cases]", (Role.POLICE, Role.ADMIN)),
    Screen("case", "/#/cases/{case_id}", "main h1", (Role.POLICE, Role.ADMIN)),
    Screen("ml", "/#/ml", "main h1", (Role.ML_ENGINEER, Role.ADMIN)),
    Screen("admin", "/#/admin", "main table.grid select", (Role.ADMIN,)),
    Screen("settings", "/#/settings", "[data-testid=exposure]", tuple(Role)),
]


def _bearer(live_server: LiveServer, user: User) -> httpx.Client:
    client = httpx.Client(base_url=live_server.url, trust_env=False, timeout=10)
    token = client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _dispute_and_case(live_server: LiveServer, seed: Seed) -> int:
    """Two volunteers disagree on one task (moderation has work); another task is decided into a case."""
    from triage_api.services import cases

    seed.tasks(8)
    for verdict in ("illegal", "legal"):
        with closing(_bearer(live_server, seed.user(Role.VOLUNTEER))) as client:
            task = client.post("/tasks/claim").json()
            assert client.post(f"/tasks/{task['id']}/votes", json={"verdict": verdict}).status_code == 201
    with seed.ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask).where(ReviewTask.status == TaskStatus.OPEN)).first()
        assert task is not None
        task.status, task.decision, task.decided_category, task.decided_at = (
            TaskStatus.DECIDED, Verdict.ILLEGAL, "drugs", utcnow())
        return cases.open_case(session, task, seed.ctx.settings, actor_id=None).id


def _show(page: Any, screen: Screen, case_id: int) -> None:
    page.goto(screen.path.format(case_id=case_id))
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
    for role in Role:
        user = seed.user(role)
        page = live_server.page(browser, color_scheme=scheme)
        live_server.sign_in(page, user)
        for screen in SCREENS:
            if role in screen.roles:
                _show(page, screen, case_id)
                check(page, f"{screen.name} as {role.value}")
        if role is Role.VOLUNTEER:
            # The queue's dialogs: the keyboard help, and the break reminder after a long stretch.
            _show(page, SCREENS[0], case_id)
            page.keyboard.press("?")
            page.wait_for_selector("[data-testid=help]")
            check(page, "queue help dialog")
            page.keyboard.press("Escape")
            stretch = int((time.time() - 3 * 3600) * 1000)
            page.evaluate(f"() => sessionStorage.setItem('saqshy.stretch', JSON.stringify({{start: {stretch}, last: Date.now()}}))")
            _show(page, Screen("wellbeing", "/#/me", "main h1", ()), case_id)
            _show(page, SCREENS[0], case_id)
            page.keyboard.press("3")
            page.wait_for_selector("[data-testid=break-reminder]")
            check(page, "wellbeing break reminder")
        page.context.close()
    assert not failures, "\n".join(failures)
