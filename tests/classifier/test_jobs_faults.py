"""The scoring job under faults caused for real: real ``saqshy worker`` processes on a real
Redis, the store on an SQLite file, the tiny model; a worker is killed with SIGKILL mid-batch.
Nothing may be lost and nothing done twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from saqshy.context import Context, build_context
from saqshy.db.models import JobStatus, Score
from saqshy.db.session import session_scope
from saqshy.services.items import ingest_items
from saqshy.settings import Settings
from tests.factories import item_data
from tests.saqshy.jobs.conftest import WAIT, RQHarness, job_settings
from tests.saqshy.jobs.conftest import redis_url as redis_url  # the private-Redis fixture
from tests.saqshy.jobs.worker_main import SCORE_PAUSE_ENV

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Three scoring batches of 64 in one job: the worker is killed while scoring the second.
ITEMS = 3 * 64
PAUSE_PER_BATCH = 1.5
# Filler words the tiny model learned as negative: little to explain, so a batch scores in seconds.
PLAIN_TEXT = "news sale abc"


@pytest.fixture
def scoring(tiny_registry: tuple[Settings, str], redis_url: str, tmp_path: Path) -> Iterator[tuple[RQHarness, str]]:
    """An RQ harness whose workers score with the tiny model, its store an SQLite file."""
    model_settings, version = tiny_registry
    settings = job_settings(
        Settings(
            _env_file=None,
            var_dir=tmp_path / "var",
            models_dir=model_settings.models_dir,
            base_model=model_settings.base_model,
            redis_url=redis_url,
            rq_queue=f"saqshy-test-{uuid.uuid4().hex[:12]}",
        )
    )
    ctx = build_context(settings)
    harness = RQHarness(settings, ctx, tmp_path)
    harness.worker_env["SAQSHY_BASE_MODEL"] = str(settings.base_model)
    try:
        yield harness, version
    finally:
        harness.close()
        ctx.close()


def plain_item() -> dict[str, object]:
    return {**item_data(), "title": "", "text": PLAIN_TEXT}


def ingest(ctx: Context, count: int) -> list[int]:
    with session_scope(ctx.sessions) as session:
        return [result.item_id for result in ingest_items(session, [plain_item() for _ in range(count)], ctx.settings)]


def scores_per_item(ctx: Context, version: str) -> dict[int, int]:
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(Score.item_id, func.count()).where(Score.model_version == version).group_by(Score.item_id)
        ).all()
    return {item_id: count for item_id, count in rows}


def test_a_worker_killed_mid_batch_has_its_batch_redone_and_every_item_scored_once(
    scoring: tuple[RQHarness, str],
) -> None:
    harness, version = scoring
    ids = ingest(harness.ctx, ITEMS)
    key = harness.queue.enqueue("score_items", {"item_ids": ids})
    harness.worker_env[SCORE_PAUSE_ENV] = str(PAUSE_PER_BATCH)
    harness.start_worker()

    # Running, first batch written, the second being scored: kill the worker there.
    deadline = time.monotonic() + WAIT
    while True:
        info = harness.queue.get(key)
        assert info is not None
        if info.status == JobStatus.RUNNING and scores_per_item(harness.ctx, version):
            break
        assert info.status in (JobStatus.QUEUED, JobStatus.RUNNING), info
        assert time.monotonic() < deadline, harness.diagnostics()
        time.sleep(0.05)
    harness.kill_worker()
    killed_at = len(scores_per_item(harness.ctx, version))
    assert 0 < killed_at < ITEMS
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.RUNNING  # what the dead worker left behind

    # A new worker, nobody else: it sees the dead worker's job and runs it again.
    harness.worker_env.pop(SCORE_PAUSE_ENV)
    harness.start_worker()
    assert harness.queue.wait_for([key], WAIT), harness.diagnostics()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.SUCCEEDED, (info, harness.diagnostics())
    assert info.attempts == 2  # the killed attempt counts: a job that kills every worker ends
    assert scores_per_item(harness.ctx, version) == dict.fromkeys(ids, 1)
