"""The retraining loop on RQ: a real worker process retrains, then switches models without a restart.

The API enqueues on Redis; one ``run_worker`` process (as ``saqshy worker`` runs it) scores items
with production, runs the retraining job, re-scores after the API promotes the candidate, and
scores with the old version again after a rollback; it is never restarted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from classifier.jobs import enqueue_scoring
from saqshy.context import Context
from saqshy.db.models import Role, Score, User
from saqshy.db.session import session_scope
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_base, tiny_dataset, weak_production
from tests.classifier.review_factories import keyword_reviews, make_item
from tests.saqshy.jobs.conftest import RQHarness, job_settings, redis_url

__all__ = ["redis_url", "tiny_base"]  # session fixtures shared with the classifier and jobs tests

pytestmark = pytest.mark.integration
WAIT = 600.0  # seconds; a few on an idle machine, much longer on a loaded shared one


@pytest.fixture
def settings(settings: Settings, tiny_base: Path, tmp_path: Path, redis_url: str) -> Settings:
    seed = tiny_dataset(tmp_path / "seed.jsonl")
    # One torch thread: two threads on a busy shared CPU wait on each other at every operation.
    return job_settings(settings, base_model=str(tiny_base), seed_data=seed, redis_url=redis_url, torch_threads=1,
                        rq_queue=f"saqshy-test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def worker(settings: Settings, ctx: Context, tmp_path: Path) -> Iterator[RQHarness]:
    """One RQ worker process on the test's queue, started before production is replaced."""
    harness = RQHarness(settings, ctx, tmp_path)
    harness.worker_env = {"SAQSHY_BASE_MODEL": settings.base_model or "", "SAQSHY_SEED_DATA": str(settings.seed_data),
                          "SAQSHY_TORCH_THREADS": str(settings.torch_threads)}
    harness.start_worker()
    yield harness
    harness.close()


def _new_item(ctx: Context, worker: RQHarness, text: str) -> int:
    """Store a new (undecided) item and have the worker score it."""
    with session_scope(ctx.sessions) as session:
        item = make_item(session, text).id
    if not ctx.jobs.wait_for(enqueue_scoring(ctx, [item]), timeout=WAIT):
        pytest.fail(f"scoring did not finish in {WAIT}s\n{worker.diagnostics()}")
    return item


def _versions(ctx: Context, item: int) -> set[str]:
    """The model versions the item's scores carry."""
    with session_scope(ctx.sessions) as session:
        return set(session.scalars(select(Score.model_version).where(Score.item_id == item)))


def _current(client: TestClient, headers: dict[str, str]) -> list[str]:
    return [m["version"] for m in client.get("/models", headers=headers).json()["items"] if m["is_current"]]


def test_a_running_worker_and_the_api_switch_models_without_a_restart(
    client: TestClient, ctx: Context, worker: RQHarness, make_user: Callable[..., User],
    auth_headers: Callable[[User], dict[str, str]],
) -> None:
    settings = ctx.settings
    old = weak_production(settings)
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 45)
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    assert worker.worker is not None
    process = worker.worker
    first = _new_item(ctx, worker, "drug sale news")
    assert _versions(ctx, first) == {old}  # the worker has loaded production

    started = client.post("/models/retrain", json={"mode": "fast"}, headers=ml)
    assert started.status_code == 202, started.text
    key = started.json()["key"]
    if not ctx.jobs.wait_for([key], timeout=WAIT):
        pytest.fail(f"retraining did not finish in {WAIT}s\n{worker.diagnostics()}")
    job = client.get(f"/models/retrain/{key}", headers=ml).json()
    assert job["status"] == "succeeded" and job["result"]["gate_passed"], (job, worker.diagnostics())
    new = job["result"]["version"]
    assert _current(client, ml) == [old]

    promoted = client.post(f"/models/{new}/promote", json={}, headers=ml)
    assert promoted.status_code == 200, promoted.text
    assert _current(client, ml) == [new]  # the API reads the new production on its next request
    assert ctx.jobs.wait_idle(timeout=WAIT), worker.diagnostics()
    assert _versions(ctx, first) == {old, new}  # the promotion's re-scoring ran on the same worker
    assert _versions(ctx, _new_item(ctx, worker, "есірткі сату бар")) == {new}

    rolled = client.post("/models/rollback", json={"reason": "checking the switch back"}, headers=ml)
    assert rolled.status_code == 200, rolled.text
    assert _current(client, ml) == [old]
    assert _versions(ctx, _new_item(ctx, worker, "полиция закладки")) == {old}
    assert worker.worker is process and process.poll() is None  # never restarted
