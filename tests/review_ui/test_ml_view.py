"""The ML view: registry versions with metrics, PR curves and per-category / per-language charts,
score drift per language and source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from saqshy.db.models import Role
from tests.review_ui.conftest import LiveServer, Seed

pytestmark = pytest.mark.integration

CATEGORIES = ("drugs", "fraud", "gambling", "extremism", "suicide", "weapons", "personal_data")


def _binary(rng: np.random.Generator) -> dict[str, Any]:
    roc = float(rng.uniform(0.82, 0.98))
    return {"n": int(rng.integers(40, 400)), "positives": int(rng.integers(10, 80)), "roc_auc": round(roc, 4),
            "pr_auc": round(roc - float(rng.uniform(0.02, 0.15)), 4),
            "recall_at_5fpr": round(roc - float(rng.uniform(0.1, 0.3)), 4),
            "ece": round(float(rng.uniform(0.01, 0.06)), 4)}


def write_registry_version(models_dir: Path, name: str, created_at: str, *, production: bool, seed: int) -> None:
    """A registry version folder as ``saqshy train`` writes it (classifier.registry layout)."""
    rng = np.random.default_rng(seed)
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"mode": "head", "outputs": [*CATEGORIES, "illegal"]}))
    (folder / "data.json").write_text(json.dumps({"created_at": created_at, "data_hash": f"{seed:012d}"}))
    metrics: dict[str, Any] = {
        "illegal": _binary(rng),
        "categories": {c: _binary(rng) for c in CATEGORIES},
        "languages": {lang: _binary(rng) for lang in ("en", "kk", "ru")},
        "hard": _binary(rng),
        "kinds": {},
        "test_examples": 812,
    }
    metrics["headline"] = f"ROC-AUC {metrics['illegal']['roc_auc']:.3f} overall"
    (folder / "metrics.json").write_text(json.dumps(metrics))
    curves = {}
    for c in (*CATEGORIES[:4], "illegal"):
        recall = np.linspace(0, 1, 41)
        precision = np.clip(1 - recall ** float(rng.uniform(2, 6)) * float(rng.uniform(0.4, 0.9)), 0, 1)
        curves[c] = {"recall": recall.round(4).tolist(), "precision": precision.round(4).tolist()}
    (folder / "pr_curves.json").write_text(json.dumps(curves))
    if production:
        (models_dir / "PRODUCTION").write_text(name + "\n")


def test_ml_view(live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path) -> None:
    from tests.review_ui.test_drift_view import seed_drift

    models_dir = seed.ctx.settings.models_dir
    write_registry_version(models_dir, "20261118-101500-head-1a2b3c4d", "2026-11-18T10:15:00+00:00",
                           production=False, seed=1)
    write_registry_version(models_dir, "20261121-093000-head-5e6f7a8b", "2026-11-21T09:30:00+00:00",
                           production=True, seed=2)
    seed_drift(seed, "20261121-093000-head-5e6f7a8b")
    seed.tasks(60)
    seed.tasks(30, category="fraud", score=0.7)
    engineer = seed.user(Role.ML_ENGINEER)

    page = live_server.page(browser)
    live_server.sign_in(page, engineer)
    page.wait_for_selector("[data-testid=model-detail]")
    page.wait_for_selector("[data-testid=pr-chart] polyline")
    assert page.locator("[data-testid=pr-chart] polyline").count() == 5
    assert page.locator("[data-testid=per-category-chart] rect").count() >= len(CATEGORIES)
    assert page.locator("[data-testid=per-language-chart] rect").count() >= 3
    page.wait_for_selector("[data-testid=drift-chart-language] rect")
    assert "20261121-093000-head-5e6f7a8b" in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "ml-models.png"), full_page=True)
    # The older version opens without a reload.
    page.click("[data-testid='model-20261118-101500-head-1a2b3c4d']")
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=model-detail] h2')?.textContent || '').includes('20261118')"
    )
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []


def write_gate_report(models_dir: Path, candidate: str, production: str) -> None:
    """A refusing gate report as ``classifier.gate.compare`` stores it (``gate.json``)."""
    auc = {"kk": (0.9412, 0.9701), "ru": (0.9655, 0.9611), "en": (0.9800, 0.9750)}
    per_language = {k: {"n": 40, "positives": 14, "candidate": c, "production": p} for k, (c, p) in auc.items()}
    per_category = {c: {"n": 120, "positives": 12, "candidate": 0.95 - 0.02 * (i % 2), "production": 0.95}
                    for i, c in enumerate(CATEGORIES)}
    checks = [{"name": "overall ROC-AUC", "candidate": 0.9702, "production": 0.9688, "limit": 0.9688, "passed": True}]
    checks += [{"name": f"language {k} ROC-AUC", "candidate": r["candidate"], "production": r["production"],
                "limit": round(r["production"] - 0.01, 4), "passed": r["candidate"] >= r["production"] - 0.01}
               for k, r in per_language.items()]
    checks += [{"name": f"category {c} ROC-AUC", "candidate": r["candidate"], "production": r["production"],
                "limit": round(r["production"] - 0.01, 4), "passed": r["candidate"] >= r["production"] - 0.01}
               for c, r in per_category.items()]
    checks.append({"name": "overall Brier score", "candidate": 0.061, "production": 0.058, "limit": 0.078,
                   "passed": True})
    recall = np.linspace(0, 1, 21)
    curve = {"recall": recall.round(4).tolist(), "precision": (1 - recall ** 3 * 0.5).round(4).tolist()}
    flips = [{"id": f"review-{n}", "lang": ("ru", "kk", "en")[n % 3], "labels": ["drugs"] if n % 2 else [],
              "candidate": 0.61, "production": 0.42, "now_flagged": True} for n in range(12)]
    report = {
        "candidate": candidate, "production": production, "passed": False,
        "failures": [c["name"] for c in checks if not c["passed"]], "checks": checks,
        "overall": {"candidate": 0.9702, "production": 0.9688, "brier": {"candidate": 0.061, "production": 0.058}},
        "per_language": per_language, "per_category": per_category,
        "pr_curves": {name: {"candidate": curve, "production": curve} for name in ("illegal", *CATEGORIES)},
        "flips": flips, "heldout": {"dataset": "20261121-090000-0a1b2c3d", "examples": 120, "sha256": "0" * 64},
        "margins": {"roc_auc": 0.01, "brier": 0.02}, "created_at": "2026-11-21T09:40:00+00:00",
    }
    (models_dir / candidate / "gate.json").write_text(json.dumps(report))


def test_a_refused_candidate_in_every_language_at_390px(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    """A candidate the gate refuses: Promote is disabled with the reasons; the comparison and the force
    dialog are translated, fit a phone's width, and work by keyboard."""
    models_dir = seed.ctx.settings.models_dir
    production, candidate = "20261118-101500-head-1a2b3c4d", "20261121-093000-head-5e6f7a8b"
    write_registry_version(models_dir, production, "2026-11-18T10:15:00+00:00", production=True, seed=1)
    write_registry_version(models_dir, candidate, "2026-11-21T09:30:00+00:00", production=False, seed=2)
    write_gate_report(models_dir, candidate, production)
    page = live_server.page(browser)
    page.set_viewport_size({"width": 390, "height": 844})
    live_server.sign_in(page, seed.user(Role.ML_ENGINEER, locale="ru"))
    page.wait_for_selector(f"[data-testid='model-{candidate}']")
    texts = set()
    for code in ("ru", "kk", "en"):
        page.click(f"[data-testid=lang-{code}]")
        page.wait_for_selector(f"[data-testid=lang-{code}][aria-pressed=true]")
        page.click(f"[data-testid='model-{candidate}']")
        page.wait_for_selector("[data-testid=ml-promote][disabled]")
        blocked = page.locator("[data-testid=ml-promote-blocked] li").all_inner_texts()
        assert len(blocked) == 4, blocked  # kk and three categories lose more than the margin
        texts.add(blocked[0])
        press(page, "ml-compare-toggle")
        page.wait_for_selector("[data-testid=ml-compare] [data-testid=ml-gate-pr-chart] polyline")
        assert page.locator("[data-testid=ml-compare] .ml-bad").count() == 4
        assert page.locator("[data-testid=ml-compare] .ml-row-fail").count() == 4
        assert phone_layout_problems(page) == {"overflow_px": 0, "untranslated": [], "small_targets": []}, code
        page.screenshot(path=str(screenshots / f"ml-refused-{code}-390.png"), full_page=True)
    assert len(texts) == 3, texts  # the reasons are translated
    # Forcing by keyboard: the dialog is modal, its confirm waits for a typed reason; Esc closes it.
    press(page, "ml-force")
    dialog = page.locator("[data-testid=ml-force-dialog]")
    dialog.wait_for()
    assert dialog.evaluate("d => d.matches(':modal')")
    assert page.locator("[data-testid=ml-force-dialog-confirm]").is_disabled()
    page.focus("[data-testid=ml-force-dialog-reason]")
    page.keyboard.type("known regression on Kazakh, fixed next week")
    assert page.locator("[data-testid=ml-force-dialog-confirm]").is_enabled()
    overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path=str(screenshots / "ml-force-dialog-390.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert (models_dir / "PRODUCTION").read_text().strip() == production
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []


def press(page: Any, testid: str) -> None:
    """Activate a control by keyboard: focus, then Enter."""
    page.focus(f"[data-testid={testid}]")
    page.keyboard.press("Enter")


def phone_layout_problems(page: Any) -> dict[str, Any]:
    """What breaks the ML view on a phone: horizontal overflow, keys shown untranslated, controls of the
    view's panels under 44 px tall."""
    return {
        "overflow_px": max(0, page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")),
        "untranslated": [w for w in page.locator("main").inner_text().split() if w.startswith("ml.")],
        "small_targets": page.evaluate(
            """() => [...document.querySelectorAll(
                   '.ml-panel button, .ml-panel select, .ml-panel input, .ml-panel summary')]
                 .filter((el) => el.offsetParent && el.getBoundingClientRect().height < 44)
                 .map((el) => el.outerHTML.slice(0, 80))"""
        ),
    }
