"""The jobs port: background work recorded in SQL, carried in process or by RQ on Redis.

Producers call ``ctx.jobs.enqueue(names.X, {"item_id": 1})``, or from inside a transaction
``enqueue_after_commit(session, names.X, {...})``; job modules register functions with
``@job(names.X)`` (see ``registry``; every name is in ``names``). The in-process pool is the embedded default; setting
``SAQSHY_REDIS_URL`` switches to RQ, run by ``saqshy worker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from saqshy.jobs import names
from saqshy.jobs.base import JobCancelled, JobInfo, JobQueue, PermanentJobError, enqueue_after_commit
from saqshy.jobs.registry import get_job, job
from saqshy.settings import Settings

if TYPE_CHECKING:
    from saqshy.context import Context

__all__ = [
    "JobCancelled",
    "JobInfo",
    "JobQueue",
    "PermanentJobError",
    "build_job_queue",
    "enqueue_after_commit",
    "get_job",
    "job",
    "names",
    "report_progress",
    "requeue_pending",
]


def build_job_queue(settings: Settings, sessions: sessionmaker[Session], context: Context | None = None) -> JobQueue:
    """RQ when ``settings.redis_url`` is set, else the in-process pool.

    ``context``: the context in-process jobs run with (else one sharing ``sessions``).
    """
    queue: JobQueue
    if settings.redis_url:
        from saqshy.jobs.rq_queue import RQJobQueue

        queue = RQJobQueue(settings, sessions)
    else:
        from saqshy.jobs.inprocess import InProcessJobQueue

        queue = InProcessJobQueue(settings, sessions)
    if context is not None:
        queue.bind(context)
    return queue


def requeue_pending(ctx: Context, *, stale_after: float | None = None) -> int:
    """Hand queued or retrying jobs the transport lost (Redis flushed, a restart) to it again; return how many."""
    return ctx.jobs.requeue_pending(stale_after=stale_after)


def report_progress(
    ctx: Context, stage: str, fraction: float, message: str = "", detail: dict[str, Any] | None = None
) -> None:
    """From inside a job: record its stage and fraction done (0-1); raises ``JobCancelled`` once
    someone asked to cancel it. Outside a job (a direct call) it does nothing."""
    from saqshy.jobs.runner import current_job_key

    key = current_job_key.get()
    if key is not None:
        ctx.jobs.report_progress(key, stage, fraction, message, detail)
