"""Faults caused for real on the RQ adapter: the Redis server process is stopped and started
again (on the same port, with no persistence: it comes back empty) while a real worker
process is running jobs. Nothing may be lost and nothing done twice.

The Redis here is always a private ``redis-server``, even where a shared one is configured:
restarting a shared server would pull it from under every other test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from saqshy.context import Context
from saqshy.db.models import JobStatus
from saqshy.settings import Settings
from tests.private_services import PrivateRedis
from tests.saqshy.jobs.conftest import WAIT, RQHarness, job_settings
from tests.saqshy.jobs.sample_jobs import calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOBS = 6
JOB_SECONDS = 0.5


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def rq(settings: Settings, ctx: Context, private_redis: PrivateRedis, tmp_path: Path) -> Iterator[RQHarness]:
    changes = {"redis_url": private_redis.url, "rq_queue": f"saqshy-test-{uuid.uuid4().hex[:12]}"}
    harness = RQHarness(job_settings(settings, **changes), ctx, tmp_path)
    try:
        yield harness
    finally:
        harness.stop_worker()
        harness.queue.close()
        harness.redis.close()


def test_redis_restarted_mid_processing_loses_no_job_and_runs_none_twice(
    rq: RQHarness, private_redis: PrivateRedis
) -> None:
    logs = [rq.log(f"job{n}") for n in range(JOBS)]
    keys = [rq.queue.enqueue("test.sleep", {"log": log, "seconds": JOB_SECONDS}) for log in logs]
    rq.start_worker()
    deadline = time.monotonic() + WAIT
    while not calls(logs[0]):
        assert time.monotonic() < deadline, rq.diagnostics()
        time.sleep(0.02)

    # The first job is running, the rest wait in Redis: Redis goes away and comes back empty.
    private_redis.stop()
    time.sleep(1.0)
    private_redis.start()

    assert rq.queue.wait_for(keys, WAIT), rq.diagnostics()
    for key in keys:
        info = rq.queue.get(key)
        assert info is not None and info.status == JobStatus.SUCCEEDED, (info, rq.diagnostics())
    assert [[call["event"] for call in calls(log)] for log in logs] == [["start", "end"]] * JOBS
