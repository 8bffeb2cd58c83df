"""Labels per category and language against their target: what ML staff see in the ML view, and
what the queue's exploration share favours (active learning).

Counted from the decisions the dataset export writes (``classifier.dataset.decisions``): a
near-duplicate cluster counts once (its strongest decision, as in training), in its decided item's
language; "legal" counts the negatives. The target is ``label_target`` per category and language,
unless ``label_target_overrides`` names the category or the pair; the "other" language (none Saqshy
is trained for) has no target unless one is named.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from classifier.data import LANGS
from classifier.dataset import ID_CHUNK, Decision, decisions
from classifier.taxonomy import Taxonomy, load_taxonomy
from saqshy.db.models import ContentItem
from saqshy.settings import Settings

LEGAL = "legal"
UNTARGETED_LANGUAGE = "other"

# (category, language) -> the share of its target still missing, 0 (reached) to 1 (no labels yet).
Shortage = Mapping[tuple[str, str], float]


@dataclass(frozen=True)
class LabelCount:
    category: str
    language: str
    labels: int
    target: int

    @property
    def missing(self) -> int:
        return max(0, self.target - self.labels)

    @property
    def shortage(self) -> float:
        """The share of the target still missing: 0 when reached (or there is no target), 1 with no labels."""
        return self.missing / self.target if self.target else 0.0


def label_target(settings: Settings, category: str, language: str) -> int:
    overrides = settings.label_target_overrides
    for key in (f"{category}:{language}", category):
        if key in overrides:
            return overrides[key]
    return 0 if language == UNTARGETED_LANGUAGE else settings.label_target


def label_counts(session: Session, settings: Settings, taxonomy: Taxonomy | None = None) -> list[LabelCount]:
    """Every category (then "legal") in every language, with its labels and target; the "other"
    language only where it has labels or a target."""
    tax = taxonomy or load_taxonomy()
    counts = _count_clusters(session, decisions(session, tax)[0])
    rows = []
    for category in (*tax.names, LEGAL):
        for language in LANGS:
            labels = counts.get((category, language), 0)
            target = label_target(settings, category, language)
            if language != UNTARGETED_LANGUAGE or labels or target:
                rows.append(LabelCount(category, language, labels, target))
    return rows


def shortage(counts: Iterable[LabelCount]) -> dict[tuple[str, str], float]:
    return {(row.category, row.language): row.shortage for row in counts}


def _count_clusters(session: Session, found: list[Decision]) -> Counter[tuple[str, str]]:
    strongest: dict[str, Decision] = {}
    for decision in found:  # strongest source first
        strongest.setdefault(decision.cluster, decision)
    languages = _languages(session, sorted(d.item_id for d in strongest.values()))
    counts: Counter[tuple[str, str]] = Counter()
    for decision in strongest.values():
        language = languages.get(decision.item_id, UNTARGETED_LANGUAGE)
        for category in decision.labels or (LEGAL,):
            counts[(category, language)] += 1
    return counts


def _languages(session: Session, item_ids: list[int]) -> dict[int, str]:
    """Each item's language as the export writes it (one of ``LANGS``); in chunks, as SQLite caps
    the number of bound parameters."""
    found: dict[int, str] = {}
    for start in range(0, len(item_ids), ID_CHUNK):
        chunk = item_ids[start : start + ID_CHUNK]
        for item_id, language in session.execute(
            select(ContentItem.id, ContentItem.language).where(ContentItem.id.in_(chunk))
        ):
            found[item_id] = language if language in LANGS else UNTARGETED_LANGUAGE
    return found


# Per store (the session's engine): when the shortage was last counted, and what it was.
_cached: weakref.WeakKeyDictionary[Engine | Connection, tuple[float, dict[tuple[str, str], float]]] = (
    weakref.WeakKeyDictionary()
)


def cached_shortage(session: Session, settings: Settings, taxonomy: Taxonomy | None = None) -> Shortage:
    """The shortage as last counted within ``triage_label_shortage_refresh_seconds``, else counted
    now in ``session``: it scans every decision, too much for every sync of the queue."""
    store = session.get_bind()
    now = time.monotonic()
    held = _cached.get(store)
    if held is not None and now - held[0] < settings.triage_label_shortage_refresh_seconds:
        return held[1]
    found = shortage(label_counts(session, settings, taxonomy))
    _cached[store] = (now, found)
    return found
