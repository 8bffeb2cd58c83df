"""The ML view: registry versions with metrics, PR curves and per-category / per-language charts,
score distribution per source over time."""

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
    metrics = {
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
    models_dir = seed.ctx.settings.models_dir
    write_registry_version(models_dir, "20261118-101500-head-1a2b3c4d", "2026-11-18T10:15:00+00:00",
                           production=False, seed=1)
    write_registry_version(models_dir, "20261121-093000-head-5e6f7a8b", "2026-11-21T09:30:00+00:00",
                           production=True, seed=2)
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
    page.wait_for_selector("[data-testid=score-distribution] rect")
    assert "20261121-093000-head-5e6f7a8b" in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "ml-models.png"), full_page=True)
    # The older version opens without a reload.
    page.click("[data-testid='model-20261118-101500-head-1a2b3c4d']")
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=model-detail] h2')?.textContent || '').includes('20261118')"
    )
    assert live_server.foreign_requests(page) == []
    assert page.saqshy_errors == []
