"""The promotion gate: a candidate replaces production only if it is no worse on the same held-out set.

Both versions score the same frozen held-out set: the seed set's test split (split by hash) plus the
test split of the newest review export (split by time and cluster; its ledger keeps it held out).
The candidate passes when

- its overall ROC-AUC is not lower than production's,
- no language and no category loses more than ``Settings.model_gate_margin`` of ROC-AUC,
- its overall Brier score is not worse by more than ``Settings.model_gate_calibration_margin``.

The report (checks, per-language and per-category tables, PR-curve points, the held-out items whose
decision would flip) is stored with the candidate as ``gate.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.data import Example, data_hash, read_examples
from classifier.errors import InvalidInputError
from classifier.registry import Registry
from classifier.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from classifier.engine import Scorer
    from saqshy.settings import Settings

REPORT = "gate.json"
OVERALL = "illegal"
PR_POINTS = 50
MAX_FLIPS = 200


@dataclass(frozen=True)
class Check:
    name: str
    candidate: float | None
    production: float | None
    limit: float | None
    passed: bool


def heldout_examples(settings: Settings) -> tuple[list[Example], dict[str, Any]]:
    """The frozen held-out set, and what it is made of: the seed set's test split plus the test split
    of the newest review export (whose split ledger never lets a held-out cluster into training)."""
    from classifier.dataset import latest_export

    taxonomy = load_taxonomy()
    paths = [settings.seed_data]
    export = latest_export(settings.datasets_dir)
    if export is not None:
        paths.append(export)
    try:
        examples = [e for e in read_examples(paths, taxonomy) if e.split == "test"]
    except InvalidInputError as exc:
        raise InvalidInputError(f"the gate's held-out data is not readable: {exc}") from None
    if len({e.is_illegal for e in examples}) < 2:
        raise InvalidInputError("the gate's held-out set needs both legal and illegal examples")
    source = {"seed_data": str(settings.seed_data), "dataset": export.name if export else None,
              "examples": len(examples), "sha256": data_hash(examples)}
    return examples, source


def _columns(scorer: Scorer, probs: np.ndarray) -> dict[str, np.ndarray]:
    return {name: probs[:, j] for j, name in enumerate(scorer.spec.outputs)}


def _truth(examples: Sequence[Example], output: str) -> np.ndarray:
    if output == OVERALL:
        return np.array([e.is_illegal for e in examples], dtype=np.int64)
    return np.array([output in e.labels for e in examples], dtype=np.int64)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return None if len(y) == 0 or y.min() == y.max() else round(float(roc_auc_score(y, p)), 4)


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(np.mean((p - y) ** 2)), 4)


def _pr_points(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]] | None:
    from sklearn.metrics import precision_recall_curve

    if y.min() == y.max():
        return None
    precision, recall, _ = precision_recall_curve(y, p)
    keep = np.unique(np.linspace(0, len(precision) - 1, min(PR_POINTS, len(precision))).astype(int))
    return {"precision": [round(float(x), 4) for x in precision[keep]],
            "recall": [round(float(x), 4) for x in recall[keep]]}


def _table(examples: Sequence[Example], cand: dict[str, np.ndarray], prod: dict[str, np.ndarray],
           groups: dict[str, np.ndarray], output: str) -> dict[str, dict[str, Any]]:
    rows = {}
    for name, sel in groups.items():
        y = _truth(examples, output)[sel]
        rows[name] = {"n": int(sel.sum()), "positives": int(y.sum()),
                      "candidate": _auc(y, cand[output][sel]), "production": _auc(y, prod[output][sel])}
    return rows


def _checks(tables: dict[str, dict[str, dict[str, Any]]], overall: dict[str, Any], margin: float,
            cal_margin: float) -> list[Check]:
    checks = [Check("overall ROC-AUC", overall["candidate"], overall["production"], overall["production"],
                    _at_least(overall["candidate"], overall["production"], 0.0))]
    for kind in ("language", "category"):
        for name, row in tables[kind].items():
            if row["production"] is None:
                continue
            limit = round(row["production"] - margin, 4)
            checks.append(Check(f"{kind} {name} ROC-AUC", row["candidate"], row["production"], limit,
                                _at_least(row["candidate"], row["production"], margin)))
    brier = overall["brier"]
    checks.append(Check("overall Brier score", brier["candidate"], brier["production"],
                        round(brier["production"] + cal_margin, 4),
                        brier["candidate"] <= brier["production"] + cal_margin + 1e-9))
    return checks


def _at_least(candidate: float | None, production: float | None, margin: float) -> bool:
    if production is None:
        return True
    return candidate is not None and candidate >= production - margin - 1e-9


def _flips(examples: Sequence[Example], cand: Scorer, prod: Scorer, p_cand: np.ndarray,
           p_prod: np.ndarray) -> list[dict[str, Any]]:
    flagged_cand = p_cand >= cand.thresholds.get(OVERALL, 0.5)
    flagged_prod = p_prod >= prod.thresholds.get(OVERALL, 0.5)
    flips = []
    for i in np.flatnonzero(flagged_cand != flagged_prod)[:MAX_FLIPS]:
        e = examples[i]
        flips.append({"id": e.id, "lang": e.lang, "labels": list(e.labels),
                      "candidate": round(float(p_cand[i]), 4), "production": round(float(p_prod[i]), 4),
                      "now_flagged": bool(flagged_cand[i])})
    return flips


def compare(
    settings: Settings, candidate: Scorer, production: Scorer, examples: Sequence[Example], heldout: dict[str, Any]
) -> dict[str, Any]:
    """The gate report of ``candidate`` against ``production`` on ``examples``."""
    texts = [e.text for e in examples]
    cand = _columns(candidate, candidate.probabilities(texts))
    prod = _columns(production, production.probabilities(texts))
    categories = [c for c in candidate.spec.outputs[:-1] if c in prod]
    y_any = _truth(examples, OVERALL)
    overall = {"candidate": _auc(y_any, cand[OVERALL]), "production": _auc(y_any, prod[OVERALL]),
               "brier": {"candidate": _brier(y_any, cand[OVERALL]), "production": _brier(y_any, prod[OVERALL])}}
    languages = {lang: np.array([e.lang == lang for e in examples]) for lang in sorted({e.lang for e in examples})}
    every = np.ones(len(examples), dtype=bool)
    tables = {
        "language": _table(examples, cand, prod, languages, OVERALL),
        "category": {c: _table(examples, cand, prod, {c: every}, c)[c] for c in categories},
    }
    checks = _checks(tables, overall, settings.model_gate_margin, settings.model_gate_calibration_margin)
    return {
        "candidate": candidate.version,
        "production": production.version,
        "passed": all(c.passed for c in checks),
        "failures": [c.name for c in checks if not c.passed],
        "checks": [asdict(c) for c in checks],
        "overall": overall,
        "per_language": tables["language"],
        "per_category": tables["category"],
        "pr_curves": {
            name: {"candidate": _pr_points(_truth(examples, name), cand[name]),
                   "production": _pr_points(_truth(examples, name), prod[name])}
            for name in [OVERALL, *categories]
        },
        "flips": _flips(examples, candidate, production, cand[OVERALL], prod[OVERALL]),
        "heldout": heldout,
        "margins": {"roc_auc": settings.model_gate_margin, "brier": settings.model_gate_calibration_margin},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_gate(settings: Settings, candidate: str) -> dict[str, Any]:
    """Score ``candidate`` and production on the candidate's held-out set; store and return the report.

    With no production yet there is nothing to lose against: the report passes.
    """
    from classifier.engine import Scorer

    registry = Registry(settings.models_dir)
    registry.path(candidate)
    production = registry.production()
    if production is None:
        report: dict[str, Any] = {"candidate": candidate, "production": None, "passed": True, "failures": [],
                                  "checks": [], "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    else:
        examples, heldout = heldout_examples(settings)
        report = compare(settings, Scorer.from_registry(settings, candidate),
                         Scorer.from_registry(settings, production), examples, heldout)
    registry.save_report(candidate, REPORT, report)
    return report
