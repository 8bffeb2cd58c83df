"""Active learning: labels per category and language against their target, and the queue's exploration
share drawing on the model's uncertainty and on the categories and languages short of labels."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from saqshy.context import Context
from saqshy.db.models import CaseOutcome, ContentItem, ReviewTask, Role, User, Verdict
from saqshy.settings import Settings
from tests.classifier.review_factories import T0, make_decision
from tests.classifier.review_factories import make_item as make_review_item
from tests.triage_api.triage_factories import claim_task, make_score
from triage_api.services import label_coverage, queue


def make_item(session: Session, *, language: str = "ru", cluster_id: int | None = None) -> ContentItem:
    return make_review_item(session, "текст", lang=language, cluster_id=cluster_id)


def _decide(session: Session, verdict: Verdict, category: str | None, *, language: str = "ru",
            cluster_id: int | None = None, **kwargs: Any) -> ContentItem:
    item = make_item(session, language=language, cluster_id=cluster_id)
    make_decision(session, item, verdict, category, at=T0, **kwargs)
    return item


def _counts(ctx: Context, settings: Settings | None = None) -> dict[tuple[str, str], label_coverage.LabelCount]:
    with ctx.sessions() as session:
        rows = label_coverage.label_counts(session, settings or ctx.settings)
    return {(row.category, row.language): row for row in rows}


def test_labels_are_counted_once_per_cluster_in_the_decided_language(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        for _ in range(3):  # one cluster, decided three times: one label, as training counts it
            _decide(session, Verdict.ILLEGAL, "fraud", language="kk", cluster_id=5)
        _decide(session, Verdict.ILLEGAL, "fraud", language="kk")
        _decide(session, Verdict.LEGAL, None, language="en")
        # The police outcome overrides the volunteers: not illegal is a negative.
        _decide(session, Verdict.ILLEGAL, "drugs", source="police", outcome=CaseOutcome.NOT_ILLEGAL)
        _decide(session, Verdict.ILLEGAL, "drugs", language="xx")
        _decide(session, Verdict.UNSURE, None)  # no label
    settings = ctx.settings.model_copy(update={"label_target": 3, "label_target_overrides": {"fraud:kk": 5}})
    counts = _counts(ctx, settings)
    fraud_kk = counts[("fraud", "kk")]
    assert (fraud_kk.labels, fraud_kk.target, fraud_kk.missing, fraud_kk.shortage) == (2, 5, 3, 0.6)
    assert (counts[("legal", "en")].labels, counts[("legal", "ru")].labels) == (1, 1)
    assert (counts[("drugs", "ru")].labels, counts[("drugs", "ru")].missing) == (0, 3)
    # "other" languages have no target unless one is named, and show only where they have labels.
    other = counts[("drugs", "other")]
    assert (other.labels, other.target, other.missing, other.shortage) == (1, 0, 0, 0.0)
    assert ("fraud", "other") not in counts
    categories = list(dict.fromkeys(category for category, _ in counts))
    assert categories == [*queue.taxonomy().names, "legal"]


def test_a_label_target_names_a_known_category_and_language() -> None:
    assert Settings(label_target_overrides={"extremism": 300, "extremism:kk": 200, "legal:other": 5})
    for bad in ({"nonsense": 3}, {"fraud:xx": 3}, {"fraud": -1}):
        with pytest.raises(ValidationError, match="label target"):
            Settings(label_target_overrides=bad)


# --- Exploration ---------------------------------------------------------------------------------


def _scored(session: Session, probability: float, *, language: str = "ru", category: str = "fraud") -> int:
    item = make_item(session, language=language)
    make_score(session, item, {category: probability})
    return item.id


def _sync(ctx: Context, shortage: label_coverage.Shortage | None, seed: int = 1, **update: Any) -> queue.SyncResult:
    # Share 0.5: as many exploration tasks as tasks over a threshold (no rounding at random).
    settings = ctx.settings.model_copy(update={"triage_exploration_share": 0.5, **update})
    with ctx.sessions.begin() as session:
        return queue.sync_tasks_from_scores(session, settings, rng=random.Random(seed), shortage=shortage)


def _explored(ctx: Context) -> list[ReviewTask]:
    with ctx.sessions() as session:
        return list(session.scalars(select(ReviewTask).where(ReviewTask.is_exploration.is_(True))
                                    .order_by(ReviewTask.rank.desc())))


def test_exploration_picks_the_items_the_model_is_least_sure_of(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        _scored(session, 0.9)  # over the 0.5 threshold: one regular task, so one exploration task
        near = _scored(session, 0.48)
        for p in (0.02, 0.05, 0.1, 0.2, 0.3):
            _scored(session, p)
    result = _sync(ctx, shortage={})
    assert (result.created, result.exploration) == (1, 1)
    (task,) = _explored(ctx)
    assert task.item_id == near and task.priority == pytest.approx(0.48 / 0.5)


def test_exploration_prefers_categories_and_languages_short_of_labels(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        _scored(session, 0.95)
        _scored(session, 0.45, language="ru")  # more uncertain, but fraud in Russian has its labels
        short = _scored(session, 0.40, language="kk")
    _sync(ctx, shortage={("fraud", "ru"): 0.0, ("fraud", "kk"): 1.0})
    (task,) = _explored(ctx)
    assert task.item_id == short and task.priority == pytest.approx(0.8 * 2)


def test_the_random_half_of_exploration_leans_to_short_categories(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        for _ in range(20):
            _scored(session, 0.95)
        short = {_scored(session, 0.1, language="kk", category="extremism") for _ in range(40)}
        for _ in range(40):
            _scored(session, 0.1, language="ru", category="extremism")
    _sync(ctx, shortage={("extremism", "kk"): 1.0, ("extremism", "ru"): 0.0}, seed=4)
    picked = {task.item_id for task in _explored(ctx)}
    assert len(picked) == 20
    assert len(picked & short) >= 17  # drawn 11 to 1: about 19 of 20 from the short pair


def test_exploration_counts_the_shortage_from_the_decisions_when_not_given(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        _decide(session, Verdict.ILLEGAL, "fraud", language="ru")
        _scored(session, 0.9)
        _scored(session, 0.45, language="ru")
        short = _scored(session, 0.40, language="kk")
    _sync(ctx, shortage=None, label_target=1)
    assert [task.item_id for task in _explored(ctx)] == [short]


def test_the_exploration_lane_serves_the_most_valuable_task_first(ctx: Context, make_user: Callable[..., User]) -> None:
    volunteer = make_user()
    with ctx.sessions.begin() as session:
        for _ in range(3):
            _scored(session, 0.9)
        _scored(session, 0.1, language="ru")
        best = _scored(session, 0.45, language="kk")
        _scored(session, 0.45, language="ru")
    _sync(ctx, shortage={("fraud", "kk"): 0.5})
    settings = ctx.settings.model_copy(update={"triage_exploration_share": 1.0, "triage_gold_share": 0.0})
    with ctx.sessions.begin() as session:
        claimed = claim_task(session, settings, session.merge(volunteer), rng=random.Random(0))
        assert claimed is not None and claimed.is_exploration and claimed.item_id == best


def test_a_cluster_member_over_a_threshold_turns_exploration_into_a_regular_task(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        _scored(session, 0.9)
        item = make_item(session, cluster_id=77)
        make_score(session, item, {"gambling": 0.49})
    _sync(ctx, shortage={("gambling", "ru"): 1.0})  # learning value 0.98 x 2, over 0.95 x severity 2
    with ctx.sessions.begin() as session:
        member = make_item(session, cluster_id=77)
        make_score(session, member, {"gambling": 0.95})
    _sync(ctx, shortage={})
    with ctx.sessions() as session:
        task = session.scalars(select(ReviewTask).where(ReviewTask.cluster_id == 77)).one()
        assert not task.is_exploration and task.priority == pytest.approx(0.95 * 2)


def test_a_new_models_score_reranks_an_open_exploration_task(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        _scored(session, 0.9)
        item = make_item(session, language="kk")
        make_score(session, item, {"fraud": 0.1})
    _sync(ctx, shortage={("fraud", "kk"): 0.5})
    (before,) = _explored(ctx)
    assert before.priority == pytest.approx(0.2 * 1.5)
    with ctx.sessions.begin() as session:  # the promoted model is much less sure the post is legal
        make_score(session, session.get(ContentItem, item.id), {"fraud": 0.45}, model_version="m2")
    assert _sync(ctx, shortage={("fraud", "kk"): 0.5}).updated == 1
    (after,) = _explored(ctx)
    assert (after.id, after.model_version, after.score) == (before.id, "m2", 0.45)
    assert after.priority == pytest.approx(0.9 * 1.5) and after.rank > before.rank


def test_the_queue_counts_the_shortage_once_per_refresh_period(ctx: Context) -> None:
    settings = ctx.settings.model_copy(update={"label_target": 1, "triage_label_shortage_refresh_seconds": 3600})
    with ctx.sessions() as session:
        before = label_coverage.cached_shortage(session, settings)
    with ctx.sessions.begin() as session:
        _decide(session, Verdict.ILLEGAL, "fraud", language="kk")
    with ctx.sessions() as session:
        assert label_coverage.cached_shortage(session, settings) == before
        fresh = settings.model_copy(update={"triage_label_shortage_refresh_seconds": 0})
        after = label_coverage.cached_shortage(session, fresh)
    assert before[("fraud", "kk")] == 1.0 and after[("fraud", "kk")] == 0.0


# --- API -----------------------------------------------------------------------------------------


def test_label_coverage_endpoint_for_ml_staff(
    client: TestClient, app_ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    with app_ctx.sessions.begin() as session:
        _decide(session, Verdict.ILLEGAL, "extremism", language="kk", cluster_id=9)
        _decide(session, Verdict.ILLEGAL, "extremism", language="kk", cluster_id=9)
    response = client.get("/labels/coverage", headers=auth_headers(make_user(Role.ML_ENGINEER)))
    assert response.status_code == 200, response.text
    rows = {(r["category"], r["language"]): r for r in response.json()["items"]}
    target = app_ctx.settings.label_target
    assert rows[("extremism", "kk")] == {"category": "extremism", "language": "kk", "labels": 1, "target": target,
                                         "missing": target - 1}
    assert rows[("legal", "ru")]["missing"] == target
    assert client.get("/labels/coverage", headers=auth_headers(make_user(Role.ADMIN))).status_code == 200
    for role in (Role.VOLUNTEER, Role.MODERATOR, Role.POLICE):
        assert client.get("/labels/coverage", headers=auth_headers(make_user(role))).status_code == 403
    assert client.get("/labels/coverage").status_code == 401


def test_every_decision_counts_whatever_its_age(ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        item = make_item(session, language="en")
        make_decision(session, item, Verdict.ILLEGAL, "weapons", at=T0 - timedelta(days=400))
    assert _counts(ctx)[("weapons", "en")].labels == 1
