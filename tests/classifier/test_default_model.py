"""Checks on the real default model (converted e5 + the head trained at install). Slow: opt in with -m slow."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.data import DEFAULT_SEED_DIR, read_examples
from classifier.taxonomy import load_taxonomy
from saqshy.settings import PROJECT_ROOT, Settings

MODELS = PROJECT_ROOT / "models"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MODELS / "PRODUCTION").is_file(), reason="no default model: run `saqshy train`"),
]


@pytest.fixture(scope="module")
def scorer():
    from classifier.engine import Scorer

    return Scorer.from_registry(Settings(models_dir=MODELS))


@pytest.fixture(scope="module")
def test_split():
    return [e for e in read_examples([DEFAULT_SEED_DIR], load_taxonomy()) if e.split == "test"]


def test_held_out_roc_auc_targets(scorer, test_split) -> None:
    from classifier.metrics import evaluate

    metrics = evaluate(test_split, scorer.probabilities([e.text for e in test_split]), scorer.spec.outputs)
    assert metrics["illegal"]["roc_auc"] >= 0.95
    assert metrics["languages"]["kk"]["roc_auc"] >= 0.92
    assert metrics["hard"]["roc_auc"] >= 0.92


def test_explanations_are_faithful_on_flagged_items(scorer, test_split) -> None:
    from classifier.explain import faithfulness

    flagged = [e.text for e in test_split if e.is_illegal and e.kind == "positive"][:20]
    check = faithfulness(scorer, flagged, col=len(scorer.spec.outputs) - 1)
    assert check.ok and check.top_beats_random >= 0.6, check


def test_evasions_score_like_their_sources(scorer) -> None:
    clean = "Закладки по городу, мефедрон, пиши в бот"
    evaded = ["З а к л а д к и   п о   г о р о д у,  мефедрон", "Зaклaдки пo гopoду, мeфeдpoн, пиши в бoт"]
    p = scorer.probabilities([clean, *evaded])[:, -1]
    assert np.all(p[1:] > 0.5) and p[0] > 0.5


def test_int8_default_stays_within_its_auc_budget_of_fp32(scorer, test_split) -> None:
    """When the install step built the int8 model, scoring runs on it and loses at most 0.005 ROC-AUC
    against torch fp32 on the held-out split, overall and on Kazakh and hard examples."""
    from classifier import onnx_int8
    from classifier.engine import Scorer
    from classifier.metrics import evaluate

    if not onnx_int8.usable(MODELS / scorer.version):
        pytest.skip("no checked int8 model: scoring runs torch fp32 (`saqshy model quantize`)")
    assert scorer.backend == "onnx-int8"
    fp32 = Scorer.from_registry(Settings(models_dir=MODELS), quantize=False)
    texts = [e.text for e in test_split]
    m8 = evaluate(test_split, scorer.probabilities(texts), scorer.spec.outputs)
    m32 = evaluate(test_split, fp32.probabilities(texts), fp32.spec.outputs)
    assert m8["illegal"]["roc_auc"] >= m32["illegal"]["roc_auc"] - onnx_int8.MAX_AUC_LOSS
    for group in (m8["languages"]["kk"], m8["hard"]):
        assert group["roc_auc"] >= 0.92
    assert m8["languages"]["kk"]["roc_auc"] >= m32["languages"]["kk"]["roc_auc"] - onnx_int8.MAX_AUC_LOSS
    assert m8["hard"]["roc_auc"] >= m32["hard"]["roc_auc"] - onnx_int8.MAX_AUC_LOSS
