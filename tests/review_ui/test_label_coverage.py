"""The ML view's labels per category and language: how many decided labels each has (a near-duplicate
cluster counted once) and how many more it needs, in every interface language, on a desktop and a phone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from saqshy.db.models import Role, Verdict
from tests.classifier.review_factories import T0, make_decision, make_item
from tests.review_ui.conftest import LiveServer, Seed
from tests.review_ui.test_ml_view import phone_layout_problems

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots-active")
NEEDS = {"ru": "ещё 63", "kk": "тағы 63", "en": "63 more"}
REACHED = {"ru": "достигнута", "kk": "жетті", "en": "reached"}


def _decisions(seed: Seed) -> None:
    """Fraud in Russian at its target (100), extremism in Kazakh short of it (37, one of them a
    cluster decided three times), some negatives in English and a code-switched suicide post."""
    wanted = [("fraud", "ru", 100), ("extremism", "kk", 36), ("drugs", "ru", 12), (None, "en", 20),
              ("suicide", "mixed", 2)]
    with seed.ctx.sessions.begin() as session:
        for category, language, count in wanted:
            verdict = Verdict.ILLEGAL if category else Verdict.LEGAL
            for _ in range(count):
                make_decision(session, make_item(session, "текст", lang=language), verdict, category, at=T0)
        for _ in range(3):
            item = make_item(session, "текст", lang="kk", cluster_id=901)
            make_decision(session, item, Verdict.ILLEGAL, "extremism", at=T0)


def test_labels_per_category_and_language_in_every_language_and_width(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    _decisions(seed)
    page = live_server.page(browser)
    live_server.sign_in(page, seed.user(Role.ML_ENGINEER, locale="ru"))
    SHOTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for code in ("ru", "kk", "en"):
            page.click(f"[data-testid=lang-{code}]")
            page.wait_for_selector(f"[data-testid=lang-{code}][aria-pressed=true]")
            table = page.locator("[data-testid=ml-labels-table]")
            table.wait_for()
            assert page.locator("[data-testid=ml-labels-extremism-kk]").inner_text().split("\n") == [
                "37 / 100", NEEDS[code]]
            assert page.locator("[data-testid=ml-labels-fraud-ru]").inner_text().split("\n") == [
                "100 / 100", REACHED[code]]
            assert page.locator("[data-testid=ml-labels-legal-en]").inner_text().startswith("20 / 100")
            assert page.locator("[data-testid=ml-labels-suicide-mixed]").inner_text().startswith("2 / 100")
            # Seven categories and the negatives, four languages; "other" has no labels, so no column.
            assert table.locator("tbody tr").count() == 8
            assert table.locator("thead th").count() == 5
            summary = page.locator("[data-testid=ml-labels-summary]").inner_text()
            assert "3029" in summary and "31" in summary and "32" in summary, summary
            assert phone_layout_problems(page) == {"overflow_px": 0, "untranslated": [], "small_targets": []}
            assert not [w for w in page.locator("main").inner_text().split() if w.startswith("ml_labels.")]
            page.locator("[data-testid=ml-labels]").scroll_into_view_if_needed()
            name = f"ml-labels-{code}-{width}.png"
            page.locator("[data-testid=ml-labels]").screenshot(path=str(screenshots / name))
            shutil.copy(screenshots / name, SHOTS / name)
    # The table scrolls on its own by keyboard when it is wider than a phone.
    region = page.locator("[data-testid=ml-labels] .table-scroll")
    assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []
