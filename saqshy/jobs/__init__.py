"""The jobs port: background work recorded in SQL, carried in process or by RQ on Redis.

Producers call ``ctx.jobs.enqueue("name", {"item_id": 1})``; job modules register functions
with ``@job("name")`` (see ``registry``). The in-process pool is the embedded default; setting
``SAQSHY_REDIS_URL`` switches to RQ, run by ``saqshy worker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from saqshy.jobs.base import JobInfo, JobQueue, PermanentJobError
from saqshy.jobs.registry import JOB_MODULES, get_job, job, load_job_modules
from saqshy.settings import Settings

if TYPE_CHECKING:
    from saqshy.context import Context

__all__ = [
    "JOB_MODULES",
    "JobInfo",
    "JobQueue",
    "PermanentJobError",
    "build_job_queue",
    "get_job",
    "job",
    "load_job_modules",
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
