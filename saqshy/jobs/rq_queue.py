"""The production job adapter: RQ on Redis (``SAQSHY_REDIS_URL``), run by ``saqshy worker``.

Only the job's key travels through Redis: RQ runs ``saqshy.jobs.runner.rq_entrypoint(key)``,
which reads everything else from SQL. Retries are scheduled with ``Queue.enqueue_in`` and moved
to the queue by RQ's scheduler, which ``run_worker`` starts with the worker.

RQ job ids allow only ``[A-Za-z0-9_-]``, so each delivery gets an id derived from the queue, the
job key and the delivery (``base.delivery_id``: when the job was enqueued, and its attempt
count): the same delivery handed over twice keeps one id (no duplicate), while a retry or a
re-run never reuses the id of an earlier run (RQ deletes a finished job's hash as the run
ends, which would take a new delivery under the same id with it).

A worker killed mid-job (SIGKILL, out of memory) leaves its delivery "started" in RQ for the
job's whole timeout, so each ``run_worker`` keeps a short-lived heartbeat key in Redis: a
started delivery whose worker's heartbeat has expired was abandoned, and every live worker
queues such jobs again (``JobQueue.reset_abandoned``), as does the next worker to start.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
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


def heartbeat_key(queue_name: str, worker_name: str) -> str:
    return f"saqshy:{queue_name}:worker-alive:{worker_name}"


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
        # Set in a worker process: that worker is alive whatever its heartbeat key says.
        self.worker_name: str | None = None

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

    def _fetch(self, key: str, delivery: str) -> Job | None:
        try:
            return Job.fetch(rq_job_id(self.queue.name, key, delivery), connection=self.connection)
        except NoSuchJobError:
            return None

    def _status(self, job_id: str) -> RQJobStatus | None:
        try:
            return Job.fetch(job_id, connection=self.connection).get_status(refresh=False)
        except NoSuchJobError:
            return None

    def _carried(self, job_id: str) -> bool:
        return self._status(job_id) in _CARRIED

    def _held_by(self, key: str, delivery: str) -> tuple[bool, bool]:
        """(started, its worker alive) for one delivery, per Redis."""
        job = self._fetch(key, delivery)
        if job is None or job.get_status(refresh=False) != RQJobStatus.STARTED:
            return False, False
        if not job.worker_name or job.worker_name == self.worker_name:
            return True, True  # nothing to check it against, or this very worker: alive
        return True, bool(self.connection.exists(heartbeat_key(self.queue.name, job.worker_name)))

    def is_running(self, key: str, delivery: str) -> bool:
        started, alive = self._held_by(key, delivery)
        return started and alive

    def worker_died(self, key: str, delivery: str) -> bool:
        started, alive = self._held_by(key, delivery)
        return started and not alive

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
    store has queued but Redis lost are handed over again; when Redis goes away, the worker
    waits for it and starts again (not in burst mode).
    """
    if not settings.redis_url:
        raise InvalidInput(
            "`saqshy worker` needs SAQSHY_REDIS_URL; without it jobs run in the in-process pool of `saqshy serve`"
        )
    import saqshy.jobs.catalog  # noqa: F401
    from saqshy.jobs.runner import set_worker_context

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
    try:
        while True:
            try:
                return _work(jobs, settings, worker_class, burst=burst, logging_level=logging_level)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if burst:
                    raise
                # RQ gives up when Redis goes away mid-job; jobs are in SQL, so start again once it is back.
                logger.error("lost Redis at %s (%s): the worker starts again once it is back", settings.redis_url, exc)
                _wait_for_redis(connection, settings.job_worker_heartbeat_seconds)
    finally:
        set_worker_context(None)


def _work(
    jobs: RQJobQueue, settings: Settings, worker_class: type[BaseWorker], *, burst: bool, logging_level: str
) -> bool:
    worker = worker_class([jobs.queue], connection=jobs.connection, name=uuid.uuid4().hex)
    jobs.worker_name = worker.name
    heartbeat = WorkerHeartbeat(jobs, worker.name, settings.job_worker_heartbeat_seconds)
    heartbeat.beat()
    jobs.requeue_pending()
    heartbeat.start()
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
    finally:
        heartbeat.stop()


def _wait_for_redis(connection: Redis, every: float) -> None:
    while True:
        time.sleep(every)
        try:
            if connection.ping():
                return
        except (RedisConnectionError, RedisTimeoutError):
            continue


class WorkerHeartbeat:
    """Says in Redis that this worker lives, queues again the jobs of workers that died, and
    hands the store's pending jobs over again when Redis has lost them.

    A thread, so it keeps beating while a job runs in the worker's main thread; it dies with
    the process (and is not copied into RQ's forked scheduler), so the key expires with it.
    """

    def __init__(self, jobs: RQJobQueue, worker_name: str, every: float) -> None:
        self.jobs = jobs
        self.key = heartbeat_key(jobs.queue.name, worker_name)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="saqshy-worker-heartbeat", daemon=True)

    def beat(self) -> bool:
        """Renew the key; return whether it was still there (not, after Redis lost its data)."""
        with self.jobs.connection.pipeline() as pipe:
            # Three missed beats before the worker counts as dead: a busy moment is not a death.
            existed, _ = pipe.exists(self.key).set(self.key, b"1", px=max(1, round(self.every * 3000))).execute()
        return bool(existed)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                # A lost key means Redis restarted or was flushed: hand the store's pending jobs over again.
                if not self.beat() or self.jobs.reset_abandoned():
                    self.jobs.requeue_pending()
            except Exception as exc:
                logger.warning("worker heartbeat failed (%s); retrying in %.3gs", exc, self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.every + 10)
        try:
            self.jobs.connection.delete(self.key)
        except Exception:
            logger.warning("could not remove this worker's heartbeat key %s", self.key)
