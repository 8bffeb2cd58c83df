"""Score drift in the ML view: a language and a source whose recent scores moved away from the
production model's held-out distribution raise a visible alert, in ru, kk and en, on a desktop and a
phone, with nothing overflowing and nothing failing axe."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from classifier.drift import BINS, REFERENCE
from review_ui import STATIC_DIR
from saqshy.db.models import Role, utcnow
from tests.review_ui.a11y import assert_accessible
from tests.review_ui.conftest import LiveServer, Seed
from tests.review_ui.test_ml_view import write_registry_version
from tests.triage_api.triage_factories import make_scored_items

pytestmark = pytest.mark.integration

PRODUCTION = "20261201-080000-fast-5e6f7a8b"
STEADY = [i / BINS + 0.05 for i in range(BINS)]


def seed_drift(seed: Seed, version: str) -> None:
    """A uniform held-out reference for ``version``; Kazakh posts of one Telegram channel now score
    high (drift), Russian forum posts keep the reference's spread, a few English ones stay under the
    minimum count."""
    uniform = [40] * BINS
    (seed.ctx.settings.models_dir / version / REFERENCE).write_text(json.dumps({
        "bins": BINS, "histogram": uniform, "count": 400, "languages": {"kk": uniform, "ru": uniform},
        "source": "test_split"}))
    channel, forum, _ = seed.sources()
    now = utcnow()
    with seed.ctx.sessions.begin() as session:
        for day in range(6):
            at = now - timedelta(days=day)
            make_scored_items(session, [0.91, 0.95, 0.97, 0.99, 0.88, 0.93, 0.96, 0.94, 0.98, 0.92],
                              model_version=version, language="kk", source_id=channel, scored_at=at)
            make_scored_items(session, STEADY, model_version=version, language="ru", source_id=forum, scored_at=at)
        make_scored_items(session, [0.97] * 4, model_version=version, language="en", source_id=forum, scored_at=now)


def _words(locale: str) -> dict[str, str]:
    return json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _layout_problems(page: Any) -> dict[str, Any]:
    return {
        "overflow_px": max(0, page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")),
        "untranslated": [w for w in page.locator("[data-testid=drift]").inner_text().split() if w.startswith("drift.")],
    }


def test_a_drifted_language_and_source_raise_an_alert_in_every_language_and_width(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    write_registry_version(seed.ctx.settings.models_dir, PRODUCTION, "2026-12-01T08:00:00+00:00", production=True,
                           seed=5)
    seed_drift(seed, PRODUCTION)
    page = live_server.page(browser)
    live_server.sign_in(page, seed.user(Role.ML_ENGINEER, locale="ru"))
    page.wait_for_selector("[data-testid=drift-alert]")
    alerts: set[str] = set()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for code in ("ru", "kk", "en"):
            words = _words(code)
            page.click(f"[data-testid=lang-{code}]")
            page.wait_for_selector(f"[data-testid=lang-{code}][aria-pressed=true]")
            alert = page.locator("[data-testid=drift-alert]")
            alert.wait_for()
            page.wait_for_function("(title) => document.querySelector('[data-testid=drift] h2')?.textContent === title",
                                   arg=words["drift.title"])
            assert alert.get_attribute("role") == "alert"
            text = alert.inner_text()
            assert words["drift.alert_title"] in text and "t.me/almaty_market" in text, text
            assert len(alert.locator("li").all()) == 2  # Kazakh and the channel; Russian and the forum are stable
            alerts.add(text)
            flagged = page.locator("[data-testid=drift-row-language].drift-row-alert")
            assert flagged.count() == 1 and flagged.get_attribute("data-key") == "kk"
            assert page.locator("[data-testid=drift-row-source].drift-row-alert").count() == 1
            rows = {row.get_attribute("data-key"): row.inner_text()
                    for row in page.locator("[data-testid=drift-row-language]").all()}
            assert words["drift.status.ok"] in rows["ru"] and words["drift.status.alert"] in rows["kk"]
            assert words["drift.status.few"].split("(")[0].strip() in rows["en"]
            assert page.locator("[data-testid=drift-chart-language] rect").count() > 0
            assert _layout_problems(page) == {"overflow_px": 0, "untranslated": []}, (code, width)
            page.locator("[data-testid=drift]").screenshot(path=str(screenshots / f"ml-drift-{code}-{width}.png"))
    assert len(alerts) == 3  # one wording per language
    # A shorter window by keyboard: the table is drawn again for it.
    page.focus("[data-testid=drift-days]")
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('[data-testid=drift-status]')?.textContent.includes(' 7 ')")
    page.locator("[data-testid=drift-alert]").wait_for()
    assert_accessible(page, "ML view drift alert (light)")
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []
    dark = live_server.page(browser, color_scheme="dark")
    live_server.sign_in(dark, seed.user(Role.ADMIN))
    dark.goto("/#/ml")
    dark.wait_for_selector("[data-testid=drift-alert]")
    assert_accessible(dark, "ML view drift alert (dark)")
    dark.locator("[data-testid=drift]").screenshot(path=str(screenshots / "ml-drift-dark.png"))
