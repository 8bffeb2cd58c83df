"""The retraining loop end to end on a tiny model, through the API an ML engineer uses:
decisions -> export -> training job -> gate -> promotion -> new scores carry the new version -> rollback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from classifier.jobs import enqueue_scoring
from classifier.registry import Registry
from saqshy.context import Context
from saqshy.db.models import AuditEntry, Role, Score, User
from saqshy.db.session import session_scope
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_base, tiny_dataset, weak_production
from tests.classifier.review_factories import keyword_reviews, make_item

__all__ = ["tiny_base"]  # the session fixture, shared with the classifier tests

JOB_WAIT = 900


@pytest.fixture
def settings(settings: Settings, tiny_base: Path, tmp_path: Path) -> Settings:
    seed = tiny_dataset(tmp_path / "seed.jsonl")
    return settings.model_copy(update={"base_model": str(tiny_base), "seed_data": seed})


def test_decisions_retrain_gate_promote_rescore_rollback(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    settings = ctx.settings
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    old = weak_production(settings)
    with session_scope(ctx.sessions) as session:
        decided = keyword_reviews(session, 45)
        undecided = [make_item(session, text).id for text in ("drug sale news", "abc mix ок")]
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    volunteer = auth_headers(make_user(Role.VOLUNTEER))
    assert ctx.jobs.wait_for(enqueue_scoring(ctx, undecided), timeout=JOB_WAIT)  # this process loads `old`

    # Retraining is a job: enqueued, it reports stage, progress and ETA, and ends with the gate's verdict.
    assert client.post("/models/retrain", json={}, headers=volunteer).status_code == 403
    assert client.post("/models/retrain", json={"mode": "huge"}, headers=ml).status_code == 422
    started = client.post("/models/retrain", json={"mode": "fast"}, headers=ml)
    assert started.status_code == 202, started.text
    key = started.json()["key"]
    assert ctx.jobs.wait_for([key], timeout=JOB_WAIT)
    job = client.get(f"/models/retrain/{key}", headers=ml).json()
    assert job["status"] == "succeeded", job
    assert (job["stage"], job["fraction"]) == ("done", 1.0)
    new = job["result"]["version"]
    assert job["result"]["gate_passed"] is True and new != old
    assert (settings.datasets_dir / job["result"]["dataset"] / "manifest.json").is_file()
    assert Registry(settings.models_dir).production() == old  # retraining never promotes by itself

    gate = client.get(f"/models/{new}/gate", headers=ml).json()
    assert gate["passed"] and gate["production"] == old and gate["heldout"]["dataset"] == job["result"]["dataset"]

    # Promotion: gated, audited, and the undecided items are scored again with the new version.
    assert client.post(f"/models/{new}/promote", json={}, headers=volunteer).status_code == 403
    assert client.post("/models/nope/promote", json={}, headers=ml).status_code == 404
    promoted = client.post(f"/models/{new}/promote", json={}, headers=ml)
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert (body["action"], body["version"], body["previous"], body["forced"]) == ("promote", new, old, False)
    assert ctx.jobs.wait_idle(timeout=JOB_WAIT)
    with session_scope(ctx.sessions) as session:
        rescored = set(session.scalars(select(Score.item_id).where(Score.model_version == new)))
        versions = set(session.scalars(select(Score.model_version).where(Score.item_id == undecided[0])))
    # Every score records its version; the running worker picked the new model up without a restart.
    assert set(undecided) <= rescored and not rescored & set(decided)
    assert versions == {old, new}

    # Rollback: back to the version before, audited with the engineer's id.
    rolled = client.post("/models/rollback", json={"reason": "checking the rollback"}, headers=ml)
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["version"], rolled.json()["previous"]) == (old, new)
    assert Registry(settings.models_dir).production() == old
    assert client.post("/models/rollback", json={}, headers=ml).status_code == 409  # nothing earlier
    with session_scope(ctx.sessions) as session:
        actions = list(session.execute(
            select(AuditEntry.action, AuditEntry.entity_id).where(AuditEntry.action.like("model.%"))
            .order_by(AuditEntry.id)
        ))
    assert [tuple(a) for a in actions] == [("model.promote", new), ("model.rollback", old)]


def test_a_retraining_job_can_be_cancelled(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 30)
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    key = client.post("/models/retrain", json={}, headers=ml).json()["key"]
    cancelled = client.post(f"/models/retrain/{key}/cancel", headers=ml)
    assert cancelled.status_code == 200, cancelled.text
    assert ctx.jobs.wait_for([key], timeout=JOB_WAIT)
    job = client.get(f"/models/retrain/{key}", headers=ml).json()
    assert job["status"] == "failed" and job["cancel_requested"] and job["last_error"].startswith("JobCancelled")
    assert Registry(ctx.settings.models_dir).list() == []  # nothing half-trained was registered
    assert client.post(f"/models/retrain/{key}/cancel", headers=ml).status_code == 409
    assert client.get("/models/retrain/nope", headers=ml).status_code == 404
