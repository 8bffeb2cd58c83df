"""Evaluation: ROC-AUC, PR-AUC, recall at 5% false-positive rate; per category, language, hard slice.

The overall score is the ``illegal`` output against "has any label"; a category's score is its own
output against "has this label". Precision-recall curves are saved as PNG images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.calibration import expected_calibration_error
from classifier.data import Example
from classifier.model import OVERALL

FPR_TARGET = 0.05


def _binary(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    if len(y) == 0 or y.min() == y.max():
        out.update(roc_auc=None, pr_auc=None, recall_at_5fpr=None)
        return out
    fpr, tpr, _ = roc_curve(y, p)
    out["roc_auc"] = round(float(roc_auc_score(y, p)), 4)
    out["pr_auc"] = round(float(average_precision_score(y, p)), 4)
    out["recall_at_5fpr"] = round(float(np.interp(FPR_TARGET, fpr, tpr)), 4)
    out["ece"] = round(expected_calibration_error(p, y), 4)
    return out


def evaluate(examples: Sequence[Example], probs: np.ndarray, outputs: Sequence[str]) -> dict[str, Any]:
    """Metrics for calibrated probabilities ``probs`` (rows = examples, columns = outputs)."""
    categories = list(outputs[:-1])
    y_any = np.array([e.is_illegal for e in examples], dtype=np.int64)
    p_any = probs[:, -1]
    result: dict[str, Any] = {OVERALL: _binary(y_any, p_any), "categories": {}, "languages": {}, "kinds": {}}
    for j, cat in enumerate(categories):
        y = np.array([cat in e.labels for e in examples], dtype=np.int64)
        result["categories"][cat] = _binary(y, probs[:, j])
    for lang in sorted({e.lang for e in examples}):
        sel = np.array([e.lang == lang for e in examples])
        result["languages"][lang] = _binary(y_any[sel], p_any[sel])
    hard = np.array([e.is_hard for e in examples])
    result["hard"] = _binary(y_any[hard], p_any[hard])
    # hard negatives against plain positives: can the model tell a drug bust from a drug ad?
    for kind in sorted({e.kind for e in examples}):
        sel = np.array([e.kind == kind for e in examples])
        result["kinds"][kind] = {"n": int(sel.sum()), "mean_score": round(float(p_any[sel].mean()), 4)}
    return result


def headline(metrics: dict[str, Any]) -> str:
    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    kk = metrics["languages"].get("kk", {})
    return (
        f"ROC-AUC {f(metrics[OVERALL]['roc_auc'])} overall, {f(kk.get('roc_auc'))} Kazakh, "
        f"{f(metrics['hard']['roc_auc'])} hard; PR-AUC {f(metrics[OVERALL]['pr_auc'])}; "
        f"recall@5%FPR {f(metrics[OVERALL]['recall_at_5fpr'])}"
    )


def save_pr_curves(examples: Sequence[Example], probs: np.ndarray, outputs: Sequence[str], dest: Path) -> list[Path]:
    """One PNG with the overall and per-category precision-recall curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    dest.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 6))
    targets = {OVERALL: np.array([e.is_illegal for e in examples])}
    for cat in outputs[:-1]:
        targets[cat] = np.array([cat in e.labels for e in examples])
    for j, name in enumerate([*outputs[:-1], OVERALL]):
        col = len(outputs) - 1 if name == OVERALL else j
        y = targets[name]
        if y.min() == y.max():
            continue
        precision, recall, _ = precision_recall_curve(y, probs[:, col])
        ax.plot(recall, precision, label=name, linewidth=2.5 if name == OVERALL else 1.2)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall on the held-out split")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    path = dest / "pr_curves.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [path]
