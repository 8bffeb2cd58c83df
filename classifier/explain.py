"""Explanations: the spans of the original text that drove a score, found by occlusion.

Removing a span and re-scoring tells how much the span mattered (the drop in the calibrated
probability of the explained output). Hierarchical, to stay cheap on long texts: coarse spans of
16 words first, then 3-word spans inside the best coarse region. Offsets refer to the original
text (before normalisation), so the review UI can highlight them as they are.

``faithfulness`` is the check that the method means something: removing the top span must lower
the score more than removing a random span of the same number of words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_WORD = re.compile(r"\S+")


class ProbabilityModel(Protocol):
    def probabilities(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class Span:
    start: int
    end: int
    text: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "weight": round(self.weight, 4)}


def _words(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def _without(text: str, words: list[tuple[int, int]], i: int, j: int) -> str:
    return text[: words[i][0]] + " " + text[words[j - 1][1] :]


def _drops(
    model: ProbabilityModel,
    text: str,
    words: list[tuple[int, int]],
    spans: list[tuple[int, int]],
    col: int,
    base: float,
) -> list[float]:
    if not spans:
        return []
    probs = model.probabilities([_without(text, words, i, j) for i, j in spans])
    return [base - float(p) for p in probs[:, col]]


def explain(
    model: ProbabilityModel,
    text: str,
    col: int,
    *,
    top_k: int = 3,
    span_words: int = 3,
    coarse_words: int = 16,
    max_words: int = 2000,
) -> list[Span]:
    """Top spans (by score drop when removed) for output column ``col``."""
    words = _words(text)[:max_words]
    if not words:
        return []
    base = float(model.probabilities([text])[0, col])
    lo, hi = 0, len(words)
    if len(words) > 2 * coarse_words:
        step = coarse_words // 2
        coarse = [(i, min(len(words), i + coarse_words)) for i in range(0, len(words), step)]
        drops = _drops(model, text, words, coarse, col, base)
        best = coarse[int(np.argmax(drops))]
        lo, hi = best
    k = min(span_words, hi - lo)
    fine = [(i, i + k) for i in range(lo, hi - k + 1)]
    drops = _drops(model, text, words, fine, col, base)
    chosen: list[Span] = []
    taken: list[tuple[int, int]] = []
    for idx in np.argsort(drops)[::-1]:
        i, j = fine[int(idx)]
        if drops[int(idx)] <= 0 or len(chosen) >= top_k:
            break
        if any(i < b and a < j for a, b in taken):
            continue
        taken.append((i, j))
        start, end = words[i][0], words[j - 1][1]
        chosen.append(Span(start, end, text[start:end], drops[int(idx)]))
    return chosen


@dataclass
class Faithfulness:
    texts: int
    mean_drop_top: float
    mean_drop_random: float
    top_beats_random: float  # share of texts where the top span's drop exceeds the random span's

    @property
    def ok(self) -> bool:
        return self.mean_drop_top > self.mean_drop_random

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "mean_drop_top": round(self.mean_drop_top, 4),
            "mean_drop_random": round(self.mean_drop_random, 4),
            "top_beats_random": round(self.top_beats_random, 4),
            "ok": self.ok,
        }


def faithfulness(
    model: ProbabilityModel, texts: Sequence[str], col: int, *, seed: int = 0, span_words: int = 3
) -> Faithfulness:
    """Compare removing the explained top span with removing a random span of as many words."""
    rng = random.Random(seed)
    top_drops, random_drops = [], []
    for text in texts:
        words = _words(text)
        spans = explain(model, text, col, top_k=1, span_words=span_words)
        if not spans or len(words) <= span_words:
            continue
        base = float(model.probabilities([text])[0, col])
        n = next(
            j - i + 1
            for i in range(len(words))
            for j in range(i, len(words))
            if words[i][0] == spans[0].start and words[j][1] == spans[0].end
        )
        i = rng.randrange(0, len(words) - n + 1)
        random_drop = _drops(model, text, words, [(i, i + n)], col, base)[0]
        top_drops.append(spans[0].weight)
        random_drops.append(random_drop)
    if not top_drops:
        return Faithfulness(0, 0.0, 0.0, 0.0)
    beats = float(np.mean([t > r for t, r in zip(top_drops, random_drops, strict=True)]))
    return Faithfulness(len(top_drops), float(np.mean(top_drops)), float(np.mean(random_drops)), beats)
