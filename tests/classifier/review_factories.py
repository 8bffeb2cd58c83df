"""Decisions in the store, as the review work leaves them: for the dataset export and retraining tests."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from saqshy.db.models import Case, CaseOutcome, ContentItem, ReviewTask, Role, TaskStatus, User, Verdict

_n = itertools.count(1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make_item(session: Session, text: str, *, lang: str = "ru", cluster_id: int | None = None) -> ContentItem:
    n = next(_n)
    item = ContentItem(url=f"https://example.test/r/{n}", canonical_url=f"https://example.test/r/{n}", title=None,
                       text=text, language=lang, sha256=f"{n:064x}", cluster_id=cluster_id, extra={})
    session.add(item)
    session.flush()
    return item


def make_moderator(session: Session) -> User:
    n = next(_n)
    user = User(email=f"mod{n}@example.test", display_name=f"Mod {n}", pseudonym=f"mod-{n}", password_hash="x",
                role=Role.MODERATOR)
    session.add(user)
    session.flush()
    return user


def make_decision(
    session: Session,
    item: ContentItem,
    verdict: Verdict,
    category: str | None,
    *,
    at: datetime,
    source: str = "consensus",
    moderator: User | None = None,
    outcome: CaseOutcome | None = None,
) -> ReviewTask:
    """A decided task (``consensus``, ``moderator``), one with a police case (``police``), or a gold task."""
    task = ReviewTask(item_id=item.id, cluster_id=item.cluster_id, category=category, score=0.5, priority=1.0,
                      rank=1.0, created_at=at)
    if source == "gold":
        task.status, task.is_gold, task.gold_verdict = TaskStatus.OPEN, True, verdict
        task.gold_category = category if verdict == Verdict.ILLEGAL else None
    else:
        task.status, task.decision, task.decided_at = TaskStatus.DECIDED, verdict, at
        task.decided_category = category if verdict == Verdict.ILLEGAL else None
        if source == "moderator":
            task.decided_by_id = (moderator or make_moderator(session)).id
    session.add(task)
    session.flush()
    if source == "police":
        session.add(Case(task_id=task.id, item_id=item.id, category=category or "drugs",
                         outcome=outcome or CaseOutcome.NOT_ILLEGAL, item_snapshot={}))
        session.flush()
    return task


def keyword_reviews(session: Session, n: int, *, seed: int = 3, start: datetime = T0) -> list[int]:
    """``n`` consensus decisions the tiny encoder can learn (the keywords of tests.classifier.conftest's
    tiny data set), one hour apart; some with a near-duplicate that carries no task. Returns item ids."""
    rng = random.Random(seed)
    filler = ["news", "sale", "полиция", "abc", "mix", "есірткі", "бар", "qwerty", "ок"]
    ids = []
    for i in range(n):
        words = rng.sample(filler, 3)
        kind = i % 3
        labels: dict[str, Any]
        if kind == 0:
            words.insert(rng.randrange(4), rng.choice(["drug", "закладки"]))
            labels = {"verdict": Verdict.ILLEGAL, "category": "drugs", "lang": "ru"}
        elif kind == 1:
            words.insert(rng.randrange(4), "сату сату")
            labels = {"verdict": Verdict.ILLEGAL, "category": "fraud", "lang": "kk"}
        else:
            labels = {"verdict": Verdict.LEGAL, "category": None, "lang": rng.choice(["ru", "kk", "en"])}
        cluster = 10_000 + i if i % 4 == 0 else None
        item = make_item(session, " ".join(words), lang=labels["lang"], cluster_id=cluster)
        make_decision(session, item, labels["verdict"], labels["category"], at=start + timedelta(hours=i))
        if cluster is not None:
            make_item(session, " ".join([*words, "ок"]), lang=labels["lang"], cluster_id=cluster)
        ids.append(item.id)
    return ids
