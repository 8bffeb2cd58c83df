"""Contract of the jobs port, run unchanged on the in-process pool and on RQ with a real worker."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from saqshy.context import Context
from saqshy.db.models import JobRecord, JobStatus
from saqshy.db.session import make_session_factory, session_scope
from saqshy.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from saqshy.jobs import requeue_pending
from saqshy.jobs.base import delivery_id, enqueue_after_commit
from tests.saqshy.jobs.conftest import BACKOFF, BACKOFF_MAX, MAX_ATTEMPTS, WAIT, Harness, RQHarness
from tests.saqshy.jobs.sample_jobs import calls


def job_rows(h: Harness) -> int:
    with session_scope(h.ctx.sessions) as session:
        return session.scalar(select(func.count()).select_from(JobRecord)) or 0


def test_a_job_runs_once_and_is_recorded(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.echo", {"log": log, "payload": "hello"})

    queued = harness.queue.get(key)
    assert queued is not None and queued.status == JobStatus.QUEUED and queued.attempts == 0

    harness.run_all()
    assert [call["payload"] for call in calls(log)] == ["hello"]
    done = harness.queue.get(key)
    assert done is not None
    assert done.status == JobStatus.SUCCEEDED
    assert done.attempts == 1 and done.last_error is None
    assert done.started_at is not None and done.finished_at is not None
    assert harness.queue.failed() == []


def test_enqueue_is_idempotent(harness: Harness) -> None:
    log = harness.log()
    args = {"log": log, "payload": 1}
    keys = {harness.queue.enqueue("test.echo", args) for _ in range(3)}
    assert len(keys) == 1
    assert job_rows(harness) == 1

    harness.run_all()
    (key,) = keys
    assert len(calls(log)) == 1

    # A succeeded job is not run again by a plain enqueue, only when forced.
    assert harness.queue.enqueue("test.echo", args) == key
    harness.run_all()
    assert len(calls(log)) == 1
    assert harness.queue.enqueue("test.echo", args, force=True) == key
    harness.run_all()
    assert len(calls(log)) == 2
    assert job_rows(harness) == 1


def test_explicit_keys_and_distinct_args(harness: Harness) -> None:
    log = harness.log()
    first = harness.queue.enqueue("test.echo", {"log": log, "payload": "a"}, key="echo-custom-1")
    assert first == "echo-custom-1"
    # Same key: the job is already queued, so the second call changes nothing.
    assert harness.queue.enqueue("test.echo", {"log": log, "payload": "b"}, key="echo-custom-1") == first
    other = harness.queue.enqueue("test.echo", {"log": log, "payload": "c"})
    assert other != first
    with pytest.raises(Conflict):
        harness.queue.enqueue("test.always_fail", {"log": log}, key="echo-custom-1")

    harness.run_all()
    assert sorted(call["payload"] for call in calls(log)) == ["a", "c"]


def test_a_failing_job_is_retried_with_backoff_then_listed_as_failed(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.always_fail", {"log": log})
    harness.run_all()

    attempts = calls(log)
    assert len(attempts) == MAX_ATTEMPTS
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= BACKOFF * 0.9
    assert gaps[1] >= BACKOFF_MAX * 0.9  # 2 × BACKOFF, capped at BACKOFF_MAX

    info = harness.queue.get(key)
    assert info is not None
    assert info.status == JobStatus.FAILED
    assert info.attempts == MAX_ATTEMPTS
    assert info.last_error is not None and "boom: this job always fails" in info.last_error
    assert info.finished_at is not None
    assert [failed.key for failed in harness.queue.failed()] == [key]


def test_a_flaky_job_succeeds_on_a_later_attempt(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.flaky", {"log": log, "fail_times": 2})
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None
    assert info.status == JobStatus.SUCCEEDED and info.attempts == 3
    assert len(calls(log)) == 3
    assert harness.queue.failed() == []


def test_a_retry_policy_declared_on_the_job_is_applied(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.fail_per_policy", {"log": log})
    queued = harness.queue.get(key)
    assert queued is not None and queued.max_attempts == MAX_ATTEMPTS - 1
    harness.run_all()
    assert len(calls(log)) == MAX_ATTEMPTS - 1
    failed = harness.queue.get(key)
    assert failed is not None and failed.status == JobStatus.FAILED and failed.attempts == MAX_ATTEMPTS - 1


def _context_on(harness: Harness) -> Context:
    """A context whose jobs port is the harness's adapter, on a session factory of its own."""
    return Context(settings=harness.settings, engine=harness.ctx.engine,
                   sessions=make_session_factory(harness.ctx.engine), _jobs=harness.queue)


def test_enqueue_after_commit_enqueues_once_the_transaction_commits(harness: Harness) -> None:
    log = harness.log()
    ctx = _context_on(harness)
    with ctx.sessions() as session:
        session.execute(select(func.count()).select_from(JobRecord))  # a transaction is open
        enqueue_after_commit(session, "test.echo", {"log": log, "payload": "committed"}, key="after-commit-1")
        # (Not read here: on SQLite the open transaction holds the store's write lock.)
        session.commit()
    queued = harness.queue.get("after-commit-1")
    assert queued is not None and queued.name == "test.echo" and queued.max_attempts == MAX_ATTEMPTS
    harness.run_all()
    assert [call["payload"] for call in calls(log)] == ["committed"]


def test_enqueue_after_commit_enqueues_nothing_on_rollback(harness: Harness) -> None:
    log = harness.log()
    ctx = _context_on(harness)
    with ctx.sessions() as session:
        session.execute(select(func.count()).select_from(JobRecord))
        enqueue_after_commit(session, "test.echo", {"log": log, "payload": "rolled back"}, key="after-commit-2")
        session.rollback()
        # The session goes on: a later commit does not bring the dropped job back.
        session.execute(select(func.count()).select_from(JobRecord))
        session.commit()
    assert harness.queue.get("after-commit-2") is None
    assert job_rows(harness) == 0
    harness.run_all()
    assert calls(log) == []


def test_enqueue_after_commit_follows_the_jobs_retry_policy(harness: Harness) -> None:
    ctx = _context_on(harness)
    with ctx.sessions.begin() as session:
        enqueue_after_commit(session, "test.fail_per_policy", {"log": harness.log()}, key="after-commit-3")
    queued = harness.queue.get("after-commit-3")
    assert queued is not None and queued.max_attempts == MAX_ATTEMPTS - 1


def test_retry_runs_a_failed_job_again(harness: Harness) -> None:
    log = harness.log()
    flag = harness.tmp / "flag"
    key = harness.queue.enqueue("test.until_flag", {"log": log, "flag": str(flag)}, max_attempts=1)
    harness.run_all()
    failed = harness.queue.get(key)
    assert failed is not None and failed.status == JobStatus.FAILED and failed.attempts == 1
    assert len(calls(log)) == 1

    flag.touch()
    harness.queue.retry(key)
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.SUCCEEDED
    assert len(calls(log)) == 2
    assert harness.queue.failed() == []

    with pytest.raises(InvalidTransition):
        harness.queue.retry(key)
    with pytest.raises(NotFound):
        harness.queue.retry("no-such-job")


def test_a_permanent_error_fails_at_once(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.bad_input", {"log": log})
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.FAILED and info.attempts == 1
    assert info.last_error is not None and "item 42 has no URL" in info.last_error
    assert len(calls(log)) == 1


def test_requeue_from_the_store_after_the_transport_is_lost(harness: Harness) -> None:
    logs = [harness.log(f"job{n}") for n in range(5)]
    keys = [harness.queue.enqueue("test.echo", {"log": log, "payload": n}) for n, log in enumerate(logs)]
    harness.lose_transport()

    # Rebuilt from SQL; asking twice must not deliver any job twice.
    assert requeue_pending(SimpleNamespace(jobs=harness.queue)) == 5  # type: ignore[arg-type]
    assert harness.queue.requeue_pending() == 0
    harness.run_all()

    for n, log in enumerate(logs):
        assert [call["payload"] for call in calls(log)] == [n]
    for key in keys:
        info = harness.queue.get(key)
        assert info is not None and info.status == JobStatus.SUCCEEDED


def test_requeue_of_named_keys_hands_only_those(harness: Harness) -> None:
    logs = [harness.log(f"job{n}") for n in range(3)]
    keys = [harness.queue.enqueue("test.echo", {"log": log, "payload": n}) for n, log in enumerate(logs)]
    harness.lose_transport()

    assert harness.queue.requeue_pending(keys=keys[:2]) == 2
    assert harness.queue.requeue_pending(keys=keys) == 1  # the third was not handed before
    harness.run_all()

    assert [len(calls(log)) for log in logs] == [1, 1, 1]


def test_args_round_trip(harness: Harness) -> None:
    log = harness.log()
    payload = {
        "text": "Запрещённый контент · Тыйым салынған мазмұн · forbidden",
        "ids": [1, 2, 3],
        "score": 0.875,
        "nested": {"flag": True, "none": None, "list": [{"a": "ә"}]},
        "big": 2**53,
    }
    key = harness.queue.enqueue("test.echo", {"log": log, "payload": payload})
    info = harness.queue.get(key)
    assert info is not None and info.args == {"log": log, "payload": payload}
    harness.run_all()
    assert [call["payload"] for call in calls(log)] == [payload]


def test_delay_postpones_the_job(harness: Harness) -> None:
    log = harness.log()
    start = time.time()
    harness.queue.enqueue("test.echo", {"log": log, "payload": "later"}, delay=0.5)
    harness.run_all()
    (call,) = calls(log)
    assert call["at"] - start >= 0.45


def test_jobs_get_a_context_with_the_store(harness: Harness) -> None:
    logs = [harness.log(), harness.log()]
    for log in logs:
        harness.queue.enqueue("test.uses_store", {"log": log})
    harness.run_all()
    results = [calls(log)[0] for log in logs]
    assert all(result["value"] == 42 for result in results)
    assert {result["settings_queue"] for result in results} == {harness.settings.rq_queue}
    # One context per worker, reused by every job: a model loads once.
    assert len({(result["pid"], result["ctx_id"]) for result in results}) == 1


def test_a_job_delivered_twice_runs_once(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.echo", {"log": log, "payload": "once"})
    # A duplicate delivery, as a requeue racing the original could make.
    info = harness.queue.get(key)
    assert info is not None
    harness.queue.dispatch(key, delivery_id(info.enqueued_at, 0))
    harness.queue.dispatch(key, delivery_id(info.enqueued_at, 0))
    harness.run_all()
    assert len(calls(log)) == 1
    info = harness.queue.get(key)
    assert info is not None and info.attempts == 1


BAD_INPUT: list[tuple[str, dict[str, object], dict[str, object], str]] = [
    ("test.no_such_job", {}, {}, "unknown job"),
    ("test.echo", {"log": "x", "payload": {1, 2}}, {}, "JSON"),
    ("test.echo", {"log": "x", "payload": float("nan")}, {}, "JSON"),
    ("test.echo", {"payload": 1}, {}, "bad arguments"),
    ("test.echo", {"log": "x", "unexpected": 1}, {}, "bad arguments"),
    ("test.echo", {"log": "x"}, {"delay": -1}, "delay"),
    ("test.echo", {"log": "x"}, {"key": " padded "}, "key"),
    ("test.echo", {"log": "x"}, {"max_attempts": 0}, "max_attempts"),
]


def test_bad_input_is_refused_and_records_nothing(harness: Harness) -> None:
    for name, args, options, message in BAD_INPUT:
        with pytest.raises(InvalidInput, match=message):
            harness.queue.enqueue(name, args, **options)  # type: ignore[arg-type]
    assert job_rows(harness) == 0


def test_a_job_whose_worker_died_is_requeued_when_stale(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.echo", {"log": log, "payload": "rescued"})
    harness.lose_transport()
    # What a worker killed mid-job leaves behind: the row says running, nobody runs it.
    with session_scope(harness.ctx.sessions) as session:
        record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one()
        record.status = JobStatus.RUNNING
        record.attempts = 1
        record.started_at = datetime.now(UTC) - timedelta(hours=2)

    assert harness.queue.requeue_pending() == 0  # a running job is left alone by default...
    assert harness.queue.requeue_pending(stale_after=3600) == 1  # ...unless it is stale
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.SUCCEEDED and info.attempts == 2
    assert [call["payload"] for call in calls(log)] == ["rescued"]


def test_a_running_job_is_not_requeued_as_stale(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.sleep", {"log": log, "seconds": 1.5})
    harness.start_worker()
    deadline = time.monotonic() + 30
    while not calls(log):
        assert time.monotonic() < deadline, harness.diagnostics()
        time.sleep(0.02)
    # Stale by age, but the transport knows it is running: left alone, not run twice.
    assert harness.queue.requeue_pending(stale_after=0) == 0
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.RUNNING
    harness.run_all()
    assert [call["event"] for call in calls(log)] == ["start", "end"]


def test_wait_idle_ignores_jobs_scheduled_after_the_wait(harness: Harness) -> None:
    log = harness.log()
    later = harness.queue.enqueue("test.echo", {"log": log, "payload": "later"}, delay=3600)
    harness.queue.enqueue("test.echo", {"log": log, "payload": "now"})
    harness.run_all()
    assert [call["payload"] for call in calls(log)] == ["now"]
    info = harness.queue.get(later)
    assert info is not None and info.status == JobStatus.QUEUED
    assert harness.queue.pending_count() == 1


def test_wait_for_waits_for_its_jobs_only(harness: Harness) -> None:
    log = harness.log()
    mine = harness.queue.enqueue("test.echo", {"log": log, "payload": "mine"})
    # A job the store says is running, in a process that was killed a moment ago: nobody runs it
    # again until it counts as stale.
    now = datetime.now(UTC)
    with session_scope(harness.ctx.sessions) as session:
        session.add(
            JobRecord(
                key="left-over",
                name="test.echo",
                args={"log": log, "payload": "left"},
                status=JobStatus.RUNNING,
                attempts=1,
                max_attempts=1,
                enqueued_at=now,
                started_at=now,
            )
        )
    assert not harness.queue.wait_for([mine], timeout=0.2)  # no worker yet
    harness.start_worker()
    assert harness.queue.wait_for([mine, mine], timeout=WAIT)
    assert [call["payload"] for call in calls(log)] == ["mine"]
    # A job that gives up has finished too.
    doomed = harness.queue.enqueue("test.bad_input", {"log": log})
    assert harness.queue.wait_for([doomed], timeout=WAIT)
    info = harness.queue.get(doomed)
    assert info is not None and info.status == JobStatus.FAILED
    assert not harness.queue.wait_idle(timeout=0.3)  # the store-wide wait still counts it
    assert harness.queue.wait_for([], timeout=0)


def kill_worker_mid_job(harness: Harness, key: str, log: str) -> None:
    """Start a worker, SIGKILL it while job ``key`` runs, and start another one."""
    if not isinstance(harness, RQHarness):
        pytest.skip("the in-process pool dies with the process that enqueues: there is no worker to kill apart")
    harness.start_worker()
    deadline = time.monotonic() + WAIT
    while not calls(log):
        assert time.monotonic() < deadline, harness.diagnostics()
        time.sleep(0.02)
    harness.kill_worker()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.RUNNING  # what the dead worker left behind
    harness.start_worker()


def test_a_job_whose_worker_was_killed_runs_again_on_the_next_worker(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.sleep", {"log": log, "seconds": 2})
    kill_worker_mid_job(harness, key, log)
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.SUCCEEDED and info.attempts == 2
    assert [call["event"] for call in calls(log)] == ["start", "start", "end"]


def test_a_job_whose_worker_was_killed_on_its_last_attempt_fails_visibly(harness: Harness) -> None:
    log = harness.log()
    key = harness.queue.enqueue("test.sleep", {"log": log, "seconds": 2}, max_attempts=1)
    kill_worker_mid_job(harness, key, log)
    harness.run_all()
    info = harness.queue.get(key)
    assert info is not None and info.status == JobStatus.FAILED and info.attempts == 1
    assert info.last_error is not None and "abandoned" in info.last_error
    assert [call["event"] for call in calls(log)] == ["start"]
