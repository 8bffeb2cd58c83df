"""Finished job rows are pruned after their retention; failed ones are kept longer; live ones never."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import JobRecord, JobStatus
from saqshy.jobs.base import utcnow
from saqshy.jobs.registry import get_job_spec
from saqshy.jobs.retention import JOB_PRUNE, prune_jobs
from saqshy.scheduler import periodic_jobs


def _row(session: Session, key: str, status: JobStatus, age_days: float | None) -> None:
    finished = None if age_days is None else utcnow() - timedelta(days=age_days)
    session.add(JobRecord(key=key, name="sample.noop", args={}, status=status, attempts=1, max_attempts=5,
                          enqueued_at=utcnow() - timedelta(days=400), finished_at=finished))


def test_prune_keeps_recent_failed_and_live_rows(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _row(session, "old-ok", JobStatus.SUCCEEDED, 20)
        _row(session, "new-ok", JobStatus.SUCCEEDED, 2)
        _row(session, "old-failed", JobStatus.FAILED, 20)
        _row(session, "ancient-failed", JobStatus.FAILED, 120)
        _row(session, "queued", JobStatus.QUEUED, None)
        _row(session, "retrying", JobStatus.RETRYING, 200)  # a stale finished_at never makes a live row go
        _row(session, "running", JobStatus.RUNNING, None)
    assert prune_jobs(sessions, succeeded_days=14, failed_days=90) == {"succeeded": 1, "failed": 1}
    with sessions() as session:
        left = set(session.execute(select(JobRecord.key)).scalars())
    assert left == {"new-ok", "old-failed", "queued", "retrying", "running"}
    # 0 keeps failed rows for ever; a second run finds nothing more to do.
    assert prune_jobs(sessions, succeeded_days=14, failed_days=0) == {"succeeded": 0, "failed": 0}


def test_prune_works_in_batches(sessions: sessionmaker[Session], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from saqshy.jobs import retention

    monkeypatch.setattr(retention, "BATCH", 3)
    with sessions.begin() as session:
        for n in range(7):
            _row(session, f"ok-{n}", JobStatus.SUCCEEDED, 30)
    assert prune_jobs(sessions, succeeded_days=14, failed_days=90)["succeeded"] == 7
    with sessions() as session:
        assert session.execute(select(JobRecord.id)).first() is None


def test_prune_is_a_registered_recurring_job() -> None:
    import saqshy.jobs.catalog  # noqa: F401

    assert get_job_spec(JOB_PRUNE).name == JOB_PRUNE
    assert JOB_PRUNE in {p.name for p in periodic_jobs()}
