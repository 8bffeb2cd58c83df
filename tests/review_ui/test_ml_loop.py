"""The retraining loop in the ML view, as an ML engineer works it in the browser on a tiny model:
cancel a training; train a candidate and watch its progress; compare it with production; promote
it; a worse version is refused by the gate, then forced with a typed reason; production is rolled
back. Then the page in Russian and Kazakh at 390 px: nothing overflows, touch targets stay 44 px."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from classifier.registry import Registry
from saqshy.db.models import Role
from saqshy.db.session import session_scope
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_base, tiny_dataset, weak_production
from tests.classifier.review_factories import keyword_reviews
from tests.review_ui.conftest import LiveServer, Seed
from tests.review_ui.test_ml_view import phone_layout_problems, press

__all__ = ["tiny_base"]  # the session fixture, shared with the classifier tests

pytestmark = pytest.mark.integration

JOB_WAIT_S = 600
DECISIONS = 30


@pytest.fixture
def settings(settings: Settings, tiny_base: Path, tmp_path: Path) -> Settings:
    """The tiny encoder and a small keyword data set: the server's retraining job trains on them."""
    seed_data = tiny_dataset(tmp_path / "seed.jsonl")
    return settings.model_copy(update={"base_model": str(tiny_base), "seed_data": seed_data})


def _watch_training(page: Any, shots: Path) -> list[tuple[str, int, bool]]:
    """Poll the job panel until the job ends; every state seen: (stage line, percent, ETA shown)."""
    seen: list[tuple[str, int, bool]] = []
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => ({stage: document.querySelector('[data-testid=ml-job-stage]')?.textContent || '',
                       value: Number(document.querySelector('[data-testid=ml-job-progress]')?.value ?? -1),
                       eta: Boolean(document.querySelector('[data-testid=ml-job-eta]')),
                       done: Boolean(document.querySelector('[data-testid=ml-job-outcome]'))})"""
        )
        if state["stage"] and (not seen or seen[-1][:2] != (state["stage"], state["value"])):
            seen.append((state["stage"], state["value"], state["eta"]))
            shot = shots / "ml-training.png"
            if state["stage"].startswith("Running") and 0 < state["value"] < 100 and not shot.exists():
                page.screenshot(path=str(shot))
        if state["done"]:
            return seen
        time.sleep(0.25)
    pytest.fail(f"the retraining job did not end within {JOB_WAIT_S} s; seen: {seen}")


def test_ml_engineer_trains_compares_promotes_and_rolls_back(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    settings = seed.ctx.settings
    registry = Registry(settings.models_dir)
    old = weak_production(settings)
    with session_scope(seed.ctx.sessions) as session:
        keyword_reviews(session, DECISIONS)
    engineer = seed.user(Role.ML_ENGINEER)

    page = live_server.page(browser)
    live_server.sign_in(page, engineer)
    page.wait_for_selector(f"[data-testid='model-{old}']")
    assert page.locator("[data-testid=ml-promote]").count() == 0  # production itself has nothing to promote

    # A training started and cancelled registers nothing; the panel says so and allows a new start.
    press(page, "ml-train-start")
    page.wait_for_selector("[data-testid=ml-job-cancel]")  # shown once the job is accepted
    press(page, "ml-job-cancel")
    page.wait_for_selector("[data-testid=ml-job-cancel]", state="hidden")  # asked; it stops at its next report
    page.wait_for_selector("[data-testid=ml-job-outcome]:has-text('cancelled')", timeout=JOB_WAIT_S * 1000)
    assert [v.name for v in registry.list()] == [old]

    # Train a candidate: the stage, the progress bar and the ETA update live until the job ends.
    page.select_option("[data-testid=ml-train-mode]", "fast")
    page.wait_for_selector("[data-testid=ml-train-start]:not([disabled])")
    press(page, "ml-train-start")
    page.wait_for_selector("[data-testid=ml-job-cancel]")
    page.focus("[data-testid=ml-job-cancel]")
    page.wait_for_timeout(2000)  # a poll or more: the panel is updated in place, the focus stays on Cancel
    assert page.evaluate("() => document.activeElement.dataset.testid") == "ml-job-cancel"
    seen = _watch_training(page, screenshots)
    running = [s for s in seen if s[0].startswith("Running")]
    assert running and any(eta for _, _, eta in running), seen
    assert any("training" in stage for stage, _, _ in running), seen
    values = [value for _, value, _ in seen]
    assert values == sorted(values) and values[-1] == 100, seen
    outcome = page.locator("[data-testid=ml-job-outcome]").inner_text()
    [new] = [v.name for v in registry.list() if v.name != old]
    assert f"Candidate {new} is trained" in outcome and "passes the gate" in outcome, outcome
    assert registry.production() == old  # training never promotes

    # The candidate is listed, and its comparison with production opens: tables, checks, curves, flips.
    page.wait_for_selector(f"[data-testid='model-{new}']")
    page.wait_for_selector("[data-testid=ml-compare]")
    compare = page.locator("[data-testid=ml-compare]")
    assert "passes" in compare.locator("[data-testid=ml-verdict]").inner_text()
    assert compare.locator(".ml-per-language tbody tr").count() == 3
    languages = compare.locator(".ml-per-language tbody td:first-child").all_inner_texts()
    assert {"English", "Russian", "Kazakh"} <= set(languages), languages
    assert compare.locator(".ml-per-category tbody tr").count() >= 2
    assert compare.locator(".ml-checks tbody tr").count() >= 4 and compare.locator(".ml-row-fail").count() == 0
    assert compare.locator("[data-testid=ml-gate-pr-chart] polyline").count() == 2  # candidate and production
    assert "held-out examples change decision" in compare.locator("[data-testid=ml-flips-count]").inner_text()
    page.screenshot(path=str(screenshots / "ml-compare.png"), full_page=True)

    # Promote it: a modal confirmation, then the result and the refreshed list.
    press(page, "ml-promote")
    dialog = page.locator("[data-testid=ml-promote-dialog]")
    dialog.wait_for()
    assert dialog.evaluate("d => d.matches(':modal')")
    page.fill("[data-testid=ml-promote-dialog-reason]", "beats production on every check")
    page.click("[data-testid=ml-promote-dialog-confirm]")
    page.wait_for_selector(f"[data-testid=ml-result-text]:has-text('{new} is production now')")
    assert registry.production() == new
    page.wait_for_selector(f"tr:has([data-testid='model-{new}']) .badge")

    # The old version: the gate refuses it; Promote is blocked with the reasons; forcing needs a reason.
    page.click(f"[data-testid='model-{old}']")
    page.wait_for_selector("[data-testid=ml-promote]:not([disabled])")  # no gate report yet: promoting runs the gate
    page.click("[data-testid=ml-promote]")
    page.click("[data-testid=ml-promote-dialog-confirm]")
    refusal = page.locator("[data-testid=ml-promote-dialog-error]")
    refusal.wait_for(timeout=120_000)
    assert refusal.inner_text().startswith("Refused: the gate refuses this version")
    page.click("[data-testid=ml-promote-dialog-cancel]")
    page.wait_for_selector("[data-testid=ml-promote][disabled]")
    blocked = page.locator("[data-testid=ml-promote-blocked]").inner_text()
    assert "gate refuses" in blocked and "below the limit" in blocked, blocked
    assert page.locator("[data-testid=ml-compare] .ml-row-fail").count() >= 1
    assert page.locator("[data-testid=ml-compare] .ml-bad").count() >= 1
    page.screenshot(path=str(screenshots / "ml-refused.png"), full_page=True)
    press(page, "ml-force")
    force = page.locator("[data-testid=ml-force-dialog]")
    force.wait_for()
    confirm = page.locator("[data-testid=ml-force-dialog-confirm]")
    assert confirm.is_disabled()  # no reason typed yet
    page.fill("[data-testid=ml-force-dialog-reason]", "   ")
    assert confirm.is_disabled()
    page.fill("[data-testid=ml-force-dialog-reason]", "checking the forced path")
    page.screenshot(path=str(screenshots / "ml-force-dialog.png"))
    confirm.click()
    page.wait_for_selector(f"[data-testid=ml-result-text]:has-text('{old} is production now')")
    assert "Forced" in page.locator("[data-testid=ml-result-text]").inner_text()
    assert registry.production() == old

    # Roll back, confirmed in a modal dialog: the candidate is production again.
    press(page, "ml-rollback")
    page.locator("[data-testid=ml-rollback-dialog]").wait_for()
    page.click("[data-testid=ml-rollback-dialog-confirm]")
    page.wait_for_selector(f"[data-testid=ml-result-text]:has-text('Rolled back: {new}')")
    assert registry.production() == new
    page.wait_for_selector(f"tr:has([data-testid='model-{new}']) .badge")
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []

    # Russian and Kazakh at 390 px, with the refused version's comparison open: no horizontal overflow.
    page.set_viewport_size({"width": 390, "height": 844})
    for code in ("ru", "kk"):
        page.click(f"[data-testid=lang-{code}]")
        page.wait_for_selector(f"[data-testid=lang-{code}][aria-pressed=true]")
        page.click(f"[data-testid='model-{old}']")
        page.click("[data-testid=ml-compare-toggle]")
        page.wait_for_selector("[data-testid=ml-compare] [data-testid=ml-gate-pr-chart]")
        assert phone_layout_problems(page) == {"overflow_px": 0, "untranslated": [], "small_targets": []}, code
        page.screenshot(path=str(screenshots / f"ml-{code}-390.png"), full_page=True)
    assert page.saqshy_errors == []
