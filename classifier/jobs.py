"""The ``score_items`` job: score stored items with the production model, write ``Score`` rows.

Idempotent: an item that already has a score from the current production version is skipped, so
a retried or requeued job writes nothing twice (and the (item_id, model_version) unique key backs
that up). The model is loaded once per worker process and reloaded only when production changes.
Importing this module is cheap (torch is imported on first use), since every worker imports it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from saqshy.db.models import ContentItem, Score
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.jobs import names
from saqshy.jobs.registry import job
from saqshy.metrics import TEXTS_SCORED
from saqshy.scheduler import periodic_key

if TYPE_CHECKING:
    from classifier.engine import Scorer
    from saqshy.context import Context
    from saqshy.settings import Settings

logger = logging.getLogger(__name__)

JOB_NAME = names.SCORE_ITEMS
BATCH = 64  # items per job: one model batch, small enough to retry cheaply
MAX_IDS = 10_000

_lock = threading.Lock()
_cache: dict[tuple[str, str], Scorer] = {}


def get_scorer(settings: Settings) -> Scorer:
    """The production scorer for this process, loaded once (per production version)."""
    from classifier.engine import Scorer
    from classifier.registry import Registry

    version = Registry(settings.models_dir).resolve(None)
    key = (str(settings.models_dir), version)
    with _lock:
        scorer = _cache.get(key)
        if scorer is None:
            _cache.clear()  # production changed: drop the old model before loading the new one
            scorer = Scorer.from_registry(settings, version)
            _cache[key] = scorer
        return scorer


def item_text(item: ContentItem) -> str:
    return f"{item.title}\n{item.text}" if item.title else (item.text or "")


def field_spans(title: str | None, text: str | None, spans: list[Any] | None) -> list[Any] | None:
    """Explanation spans over ``item_text`` as spans over the fields a reviewer sees: each gets
    ``field`` ("title" or "text") and code-point offsets into that field (a span across both is split)."""
    if spans is None:
        return None
    title, text = title or "", text or ""
    offset = len(title) + 1 if title else 0
    mapped: list[Any] = []
    for span in spans:
        start, end = (span.get("start"), span.get("end")) if isinstance(span, dict) else (None, None)
        if not isinstance(start, int) or not isinstance(end, int) or "field" in span:
            mapped.append(span)  # a text-only span (no offsets), or one already mapped
            continue
        for field, value, shift in (("title", title, 0), ("text", text, offset)):
            lo, hi = max(start - shift, 0), min(end - shift, len(value))
            if lo < hi and (field == "text" or title):
                mapped.append({**span, "field": field, "start": lo, "end": hi, "text": value[lo:hi]})
    return mapped


def score_rows(scorer: Scorer, texts: Sequence[str], *, explain_flagged: bool = True) -> list[dict[str, Any]]:
    """Score texts; explanations (top spans) for the flagged ones. Shared with the offline CLI."""
    from classifier.explain import explain

    results = scorer.score(texts)
    rows = []
    for text, result in zip(texts, results, strict=True):
        spans: list[dict[str, Any]] = []
        if explain_flagged and (result.flagged or result.score >= scorer.thresholds.get("illegal", 0.5)):
            col = scorer.spec.outputs.index(result.top_category) if result.top_category else -1
            spans = [s.to_dict() for s in explain(scorer, text, col)]
        result.spans = spans
        rows.append(result.to_dict())
    return rows


@job(JOB_NAME, max_attempts=5, timeout=1800)
def score_items(ctx: Context, item_ids: list[int]) -> dict[str, int]:
    """Score the given items with the production model (skips those it already scored)."""
    if not isinstance(item_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in item_ids):
        raise InvalidInput("score_items needs item_ids: a list of integers")
    if len(item_ids) > MAX_IDS:
        raise InvalidInput(f"score_items takes at most {MAX_IDS} ids per job, got {len(item_ids)}")
    scorer = get_scorer(ctx.settings)
    version = scorer.version
    written = 0
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        # Read, score, write in separate steps: the model never runs inside a transaction (on
        # SQLite an open write transaction would hold every other writer for the whole batch).
        with session_scope(ctx.sessions) as session:
            done = set(
                session.scalars(select(Score.item_id).where(Score.item_id.in_(chunk), Score.model_version == version))
            )
            todo = [
                (item.id, item_text(item))
                for item in session.scalars(select(ContentItem).where(ContentItem.id.in_(chunk)))
                if item.id not in done and not item.is_binary
            ]
        if not todo:
            continue
        rows = score_rows(scorer, [text for _, text in todo])
        with session_scope(ctx.sessions) as session:
            # Another worker may have scored some of them meanwhile: the unique key says which.
            done = set(
                session.scalars(select(Score.item_id).where(Score.item_id.in_(chunk), Score.model_version == version))
            )
            for (item_id, _), row in zip(todo, rows, strict=True):
                if item_id in done:
                    continue
                session.add(
                    Score(
                        item_id=item_id,
                        model_version=version,
                        probabilities=row["probabilities"],
                        score=row["score"],
                        top_category=row["top_category"],
                        explanation=row["spans"] or None,
                    )
                )
                written += 1
    TEXTS_SCORED.labels(model_version=version).inc(written)
    logger.info("scored %d of %d items with %s", written, len(ids), version)
    if written:
        # New scores become review tasks now rather than at the next periodic sync.
        try:
            ctx.jobs.enqueue(names.QUEUE_SYNC_TASKS, {}, key=periodic_key(names.QUEUE_SYNC_TASKS), force=True)
        except Exception:
            logger.warning("could not enqueue %s; the periodic sync will pick the scores up", names.QUEUE_SYNC_TASKS)
    return {"scored": written, "requested": len(ids)}


def enqueue_scoring(ctx: Context, item_ids: Sequence[int], *, model_version: str | None = None) -> list[str]:
    """Enqueue ``score_items`` in batches of BATCH ids; returns the job keys.

    ``model_version``: re-scoring for a new production version, keyed by it, so batches an earlier
    version already scored run again.
    """
    ids = sorted(set(item_ids))
    keys = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        key = f"{JOB_NAME}:{model_version}:{chunk[0]}-{chunk[-1]}:{len(chunk)}" if model_version else None
        keys.append(ctx.jobs.enqueue(JOB_NAME, {"item_ids": chunk}, key=key))
    return keys
