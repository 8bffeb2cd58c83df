"""The production job adapter: RQ on Redis (``SAQSHY_REDIS_URL``), run by ``saqshy worker``.

Only the job's key travels through Redis: RQ runs ``saqshy.jobs.runner.rq_entrypoint(key)``,
which reads everything else from SQL. Retries are scheduled with ``Queue.enqueue_in`` and moved
to the queue by RQ's scheduler, which ``run_worker`` starts with the worker.

RQ job ids allow only ``[A-Za-z0-9_-]``, so each delivery gets an id derived from the queue, the
job key and the delivery (``base.delivery_id``: when the job was enqueued, and its attempt
count): the same delivery handed over twice keeps one id (no duplicate), while a retry or a
re-run never reuses the id of an earlier run (RQ deletes a finished job's hash as the run
ends, which would take a new delivery under the same id with it).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQJobStatus
from rq.worker import BaseWorker, SimpleWorker
from sqlalchemy.orm import Session, sessionmaker

from saqshy.errors import InvalidInput, ServiceUnavailable
from saqshy.jobs.base import JobQueue
from saqshy.jobs.registry import get_job_spec
from saqshy.settings import Settings

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)

ENTRYPOINT = "saqshy.jobs.runner.rq_entrypoint"
# Hard limit of one attempt when the job sets none: generous, since training and batch scoring
# are long; a job that hits it is retried like any failure.
DEFAULT_TIMEOUT_SECONDS = 6 * 3600
# Delivery ids that still stand for a pending delivery: handing the job over again would duplicate it.
_CARRIED = {
    RQJobStatus.CREATED,
    RQJobStatus.QUEUED,
    RQJobStatus.SCHEDULED,
    RQJobStatus.STARTED,
    RQJobStatus.DEFERRED,
}


def rq_job_id(queue_name: str, key: str, delivery: str) -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", queue_name)[:60]
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:32]}-{delivery}"


def redis_connection(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise InvalidInput("SAQSHY_REDIS_URL is not set: the RQ job queue needs a Redis")
    # RQ stores pickled payloads: responses must stay bytes.
    return Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)


class RQJobQueue(JobQueue):
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, connection: Redis | None = None) -> None:
        super().__init__(settings, sessions)
        self.connection = connection if connection is not None else redis_connection(settings)
        self.queue = Queue(settings.rq_queue, connection=self.connection)

    def dispatch(self, key: str, delivery: str, delay: float = 0.0, *, if_missing: bool = False) -> bool:
        job_id = rq_job_id(self.queue.name, key, delivery)
        if if_missing and self._carried(job_id):
            return False
        timeout: Any = DEFAULT_TIMEOUT_SECONDS
        try:
            record_name = self.get(key)
            if record_name is not None:
                timeout = get_job_spec(record_name.name).timeout or DEFAULT_TIMEOUT_SECONDS
        except InvalidInput:
            pass  # an unknown name fails visibly when it runs
        options: dict[str, Any] = {
            "job_id": job_id,
            "job_timeout": timeout,
            # The outcome is recorded in SQL; RQ keeps nothing of a finished delivery.
            "result_ttl": 0,
            "failure_ttl": 7 * 24 * 3600,
            "description": f"saqshy job {key} (delivery {delivery})",
        }
        if delay > 0:
            self.queue.enqueue_in(timedelta(seconds=delay), ENTRYPOINT, key, **options)
        else:
            self.queue.enqueue(ENTRYPOINT, key, **options)
        return True

    def _status(self, job_id: str) -> RQJobStatus | None:
        try:
            return Job.fetch(job_id, connection=self.connection).get_status(refresh=False)
        except NoSuchJobError:
            return None

    def _carried(self, job_id: str) -> bool:
        return self._status(job_id) in _CARRIED

    def is_running(self, key: str, delivery: str) -> bool:
        # RQ keeps a started job's status while its worker lives (and a while after it dies).
        return self._status(rq_job_id(self.queue.name, key, delivery)) == RQJobStatus.STARTED

    def close(self) -> None:
        self.connection.close()


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    context: Context | None = None,
    worker_class: type[BaseWorker] = SimpleWorker,
    logging_level: str = "INFO",
) -> bool:
    """Run an RQ worker (with RQ's scheduler, which delivers delayed retries) until stopped.

    The context is built once, before the first job: a model loads once per worker. The
    default ``SimpleWorker`` runs jobs in this process rather than a fork per job, so that
    loaded model, the SQL pool and the torch threads are reused safely. On start, jobs the
    store has queued but Redis lost are handed over again.
    """
    if not settings.redis_url:
        raise InvalidInput(
            "`saqshy worker` needs SAQSHY_REDIS_URL; without it jobs run in the in-process pool of `saqshy serve`"
        )
    from saqshy.jobs.registry import load_job_modules
    from saqshy.jobs.runner import set_worker_context

    load_job_modules()
    if context is None:
        from saqshy.context import build_context

        context = build_context(settings)
    set_worker_context(context)
    connection = redis_connection(settings)
    try:
        connection.ping()
    except Exception as exc:
        raise ServiceUnavailable(f"Redis is not reachable at {settings.redis_url}: {exc}") from exc
    jobs = RQJobQueue(settings, context.sessions, connection=connection)
    jobs.requeue_pending()
    worker = worker_class([jobs.queue], connection=connection)
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
    finally:
        set_worker_context(None)
