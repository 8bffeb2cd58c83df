"""Factories for queue tests: items with scores, tasks ready to claim, and a claim that yields the task."""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from saqshy.db.models import ContentItem, ReviewTask, Score, TaskStatus, utcnow
from saqshy.settings import Settings
from tests.factories import item_data
from triage_api.services import queue
from triage_api.services.auth import Actor

_n = itertools.count(1)


def make_item(session: Session, **overrides: Any) -> ContentItem:
    data = item_data(language=overrides.pop("language", "ru"))
    item = ContentItem(
        url=data["url"], canonical_url=data["canonical_url"], language=data["language"], title=data["title"],
        text=data["text"], sha256=f"{next(_n):064x}", extra={}, **overrides,
    )
    session.add(item)
    session.flush()
    return item


def make_score(session: Session, item: ContentItem, probabilities: dict[str, float], model_version: str = "m1"
               ) -> Score:
    top = max(probabilities, key=lambda k: probabilities[k]) if probabilities else None
    score = Score(item_id=item.id, model_version=model_version, probabilities=probabilities,
                  score=max(probabilities.values(), default=0.0), top_category=top)
    session.add(score)
    session.flush()
    return score


def make_task(session: Session, *, category: str = "drugs", priority: float = 1.0, **overrides: Any) -> ReviewTask:
    item = make_item(session)
    task = ReviewTask(item_id=item.id, category=category, score=priority / 4, priority=priority,
                      rank=overrides.pop("rank", priority), status=overrides.pop("status", TaskStatus.OPEN),
                      **overrides)
    session.add(task)
    session.flush()
    return task


def make_tasks(sessions: Any, count: int, **overrides: Any) -> list[int]:
    base = overrides.pop("priority", 1.0)
    with sessions.begin() as session:
        return [make_task(session, priority=base + i / 1000, **overrides).id for i in range(count)]


def claim_task(session: Session, settings: Settings, user: Actor, *, rng: random.Random | None = None
               ) -> ReviewTask | None:
    """``queue.claim`` for tests that go on to read or change the leased task as an entity."""
    claimed = queue.claim(session, settings, user, rng=rng)
    return None if claimed is None else session.get(ReviewTask, claimed.task_id)


def make_scored_items(session: Session, scores: list[float], *, model_version: str, language: str = "ru",
                      source_id: int | None = None, scored_at: datetime | None = None) -> list[int]:
    """One item per score, in ``language`` and ``source_id``, scored by ``model_version`` at ``scored_at``."""
    ids = []
    for value in scores:
        item = make_item(session, language=language, source_id=source_id)
        session.add(Score(item_id=item.id, model_version=model_version, probabilities={"drugs": value}, score=value,
                          top_category="drugs", created_at=scored_at or utcnow()))
        ids.append(item.id)
    session.flush()
    return ids


def make_drift_model(models_dir: Path, version: str, reference: dict[str, Any] | None) -> None:
    """A production registry version with (or without) the held-out reference drift compares against."""
    folder = models_dir / version
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"mode": "fast"}))
    if reference is not None:
        (folder / "reference.json").write_text(json.dumps(reference))
    (models_dir / "PRODUCTION").write_text(version + "\n")
