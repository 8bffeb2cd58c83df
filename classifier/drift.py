"""Score drift: fixed bins over [0, 1], the population stability index (PSI), and each model
version's reference distribution (``reference.json`` in its registry folder).

The reference is the distribution of the overall score (``illegal``) that a version gives its own
held-out data: training writes it from the test split; a version trained before that gets it from
the frozen held-out set (``classifier.gate.heldout_examples``) by the ``classifier.drift_reference``
job, the first time drift is asked for.

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with both shares smoothed by ``EPSILON`` so an empty bin never divides by zero. Below 0.1 is
usually read as stable, 0.1-0.2 as a moderate shift, above 0.2 as a shift worth a look.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from classifier.registry import Registry
from saqshy.jobs import names
from saqshy.jobs.registry import job

if TYPE_CHECKING:
    from saqshy.context import Context

BINS = 10
# Bin i holds scores in [i / BINS, (i + 1) / BINS); the last bin also holds 1.0.
EDGES: tuple[float, ...] = tuple(i / BINS for i in range(BINS + 1))
EPSILON = 1e-4
REFERENCE = "reference.json"
REFERENCE_JOB = names.DRIFT_REFERENCE


def histogram(scores: Iterable[float]) -> list[int]:
    """Counts of ``scores`` in the fixed bins (values outside [0, 1] go to the nearest end bin)."""
    values = np.clip(np.fromiter(scores, dtype=np.float64), 0.0, 1.0)
    counts, _ = np.histogram(values, bins=np.asarray(EDGES))
    return [int(c) for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float], *, epsilon: float = EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` (both counts or shares per bin)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or not len(e):
        raise ValueError(f"PSI needs two histograms with the same bins, got {e.shape} and {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0 or (e < 0).any() or (a < 0).any():
        raise ValueError("PSI needs two non-empty histograms of non-negative counts")
    e = np.maximum(e / e.sum(), epsilon)
    a = np.maximum(a / a.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def reference_from_scores(scores: Sequence[float], languages: Sequence[str], *,
                          source: Literal["test_split", "heldout"]) -> dict[str, Any]:
    """The reference document of a version: the overall histogram and one per language; ``source``
    says which held-out data it was scored on (training's test split, or the gate's held-out set)."""
    values = np.asarray(scores, dtype=np.float64)
    langs = np.asarray(languages)
    return {
        "bins": BINS,
        "edges": list(EDGES),
        "histogram": histogram(values),
        "count": len(values),
        "languages": {str(lang): histogram(values[langs == lang]) for lang in sorted(set(languages))},
        "source": source,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_reference(registry: Registry, version: str) -> dict[str, Any] | None:
    """The version's reference document, or None when it has none (or one with other bins)."""
    reference = registry.report(version, REFERENCE)
    if reference.get("bins") != BINS or len(reference.get("histogram") or []) != BINS:
        return None
    return reference


def reference_job_key(version: str) -> str:
    return f"{REFERENCE_JOB}:{version}"


# One attempt: a version whose held-out set cannot be scored fails the same way again.
@job(REFERENCE_JOB, max_attempts=1, timeout=3600)
def compute_reference(ctx: Context, version: str) -> dict[str, Any]:
    """Score the frozen held-out set with ``version`` and store its reference (idempotent: a version
    that has one keeps it)."""
    from classifier.engine import Scorer
    from classifier.gate import heldout_examples

    registry = Registry(ctx.settings.models_dir)
    existing = load_reference(registry, version)
    if existing is not None:
        return {"version": version, "count": existing["count"], "computed": False}
    examples, heldout = heldout_examples(ctx.settings)
    scorer = Scorer.from_registry(ctx.settings, version)
    overall = scorer.probabilities([e.text for e in examples])[:, -1]
    reference = reference_from_scores(overall.tolist(), [e.lang for e in examples], source="heldout")
    reference["heldout_sha256"] = heldout["sha256"]
    registry.save_report(version, REFERENCE, reference)
    return {"version": version, "count": reference["count"], "computed": True}
