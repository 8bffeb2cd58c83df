"""Running one job: the one code path both adapters use, so they behave the same.

``run_job`` claims the job's row (queued/retrying → running, in one UPDATE, so a job delivered
twice runs once), calls the registered function with the context, and records the outcome:
succeeded, retrying (with ``next_attempt_at`` after an exponential backoff) or failed (with
the error in ``last_error``). The adapter then delivers the retry when it is due.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import traceback
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from saqshy.db.models import JobRecord, JobStatus
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput, NotFound
from saqshy.jobs.base import PermanentJobError, backoff_seconds, delivery_id
from saqshy.jobs.registry import get_job
from saqshy.logs import REQUEST_ID
from saqshy.metrics import timed_job
from saqshy.timeutil import utcnow

if TYPE_CHECKING:
    from saqshy.context import Context
    from saqshy.settings import Settings

logger = logging.getLogger(__name__)

# Errors no retry can fix: bad arguments, an id that does not exist, or the job saying so.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (PermanentJobError, InvalidInput, NotFound)
MAX_ERROR_CHARS = 8_000
# The key of the job running in this thread, for its progress reports (saqshy.jobs.progress).
current_job_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_job_key", default=None)


@dataclass(frozen=True)
class RunOutcome:
    # None: the job was not claimable (unknown key, already done or running elsewhere).
    status: JobStatus | None
    attempts: int = 0
    # When status is RETRYING: seconds until the retry is due, and the retry's delivery name.
    retry_in: float | None = None
    delivery: str | None = None


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    head = f"{type(exc).__name__}: {exc}\n"
    # The message first, so a list of failures is readable; the traceback's tail is what matters.
    return (head + text[-(MAX_ERROR_CHARS - len(head)) :])[:MAX_ERROR_CHARS]


def run_job(ctx: Context, key: str) -> RunOutcome:
    """Run job ``key`` once if it is waiting to run (queued or retrying), and record what happened."""
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        claimed = session.execute(
            update(JobRecord)
            .where(JobRecord.key == key, JobRecord.status.in_([JobStatus.QUEUED, JobStatus.RETRYING]))
            .values(status=JobStatus.RUNNING, attempts=JobRecord.attempts + 1, started_at=now, finished_at=None)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return RunOutcome(status=None)
        record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one()
        name, args = record.name, dict(record.args or {})
        attempt, max_attempts = record.attempts, record.max_attempts
        next_delivery = delivery_id(record.enqueued_at, attempt)
        request_id = record.request_id

    # The job's log lines carry the id of the request that enqueued it.
    token = REQUEST_ID.set(request_id)
    try:
        return _run_claimed(ctx, key, name, args, attempt, max_attempts, next_delivery)
    finally:
        REQUEST_ID.reset(token)


def _run_claimed(
    ctx: Context, key: str, name: str, args: dict[str, Any], attempt: int, max_attempts: int, next_delivery: str
) -> RunOutcome:
    # Recurring jobs run every few seconds: their routine start and success are debug noise.
    level = logging.DEBUG if key.startswith("periodic:") else logging.INFO
    logger.log(level, "job %s (%s) attempt %d/%d started", key, name, attempt, max_attempts)
    token = current_job_key.set(key)
    try:
        with timed_job(name):
            get_job(name)(ctx, **args)
    except Exception as exc:
        outcome = _record_failure(ctx.sessions, ctx.settings, key, attempt, max_attempts, exc)
        return replace(outcome, delivery=next_delivery) if outcome.status == JobStatus.RETRYING else outcome
    except BaseException:
        # The worker is being stopped (Ctrl-C, a cold shutdown): the attempt did not finish, so
        # it is not counted; the job is queued again for the next worker start.
        _finish(ctx.sessions, key, attempt, status=JobStatus.QUEUED, attempts=attempt - 1, finished=False)
        raise
    finally:
        current_job_key.reset(token)
    _finish(ctx.sessions, key, attempt, status=JobStatus.SUCCEEDED, last_error=None)
    logger.log(level, "job %s (%s) succeeded", key, name)
    return RunOutcome(status=JobStatus.SUCCEEDED, attempts=attempt)


def _record_failure(
    sessions: Any, settings: Settings, key: str, attempt: int, max_attempts: int, exc: Exception
) -> RunOutcome:
    error = _describe(exc)
    if isinstance(exc, PERMANENT_ERRORS) or attempt >= max_attempts:
        _finish(sessions, key, attempt, status=JobStatus.FAILED, last_error=error)
        logger.error("job %s failed for good after %d attempt(s): %s: %s", key, attempt, type(exc).__name__, exc)
        return RunOutcome(status=JobStatus.FAILED, attempts=attempt)
    delay = backoff_seconds(settings, attempt)
    _finish(
        sessions,
        key,
        attempt,
        status=JobStatus.RETRYING,
        last_error=error,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        finished=False,
    )
    logger.warning(
        "job %s attempt %d/%d failed (%s: %s), retrying in %.3gs",
        key,
        attempt,
        max_attempts,
        type(exc).__name__,
        exc,
        delay,
    )
    return RunOutcome(status=JobStatus.RETRYING, attempts=attempt, retry_in=delay)


def _finish(
    sessions: Any,
    key: str,
    attempt: int,
    *,
    status: JobStatus,
    finished: bool = True,
    **values: Any,
) -> None:
    now = utcnow()
    values.setdefault("next_attempt_at", None)
    with session_scope(sessions) as session:
        # Only the attempt that claimed the row may close it: a stale worker (one whose job was
        # requeued as stale) cannot overwrite a newer attempt's outcome.
        session.execute(
            update(JobRecord)
            .where(JobRecord.key == key, JobRecord.status == JobStatus.RUNNING, JobRecord.attempts == attempt)
            .values(status=status, finished_at=now if finished else None, **values)
            .execution_options(synchronize_session=False)
        )


# --- RQ worker side -----------------------------------------------------------------------------

_worker_context: Context | None = None
_worker_lock = threading.Lock()


def set_worker_context(ctx: Context | None) -> None:
    """Install the context jobs run with in this worker process (``run_worker`` does)."""
    global _worker_context
    with _worker_lock:
        _worker_context = ctx


def worker_context() -> Context:
    """This worker's context, built once from ``Settings()``: models load once per worker."""
    global _worker_context
    with _worker_lock:
        if _worker_context is None:
            import saqshy.jobs.catalog  # noqa: F401
            from saqshy.context import build_context
            from saqshy.settings import get_settings

            _worker_context = build_context(get_settings())
        return _worker_context


def rq_entrypoint(key: str) -> str | None:
    """What RQ runs: the job's key travels through Redis, everything else is read from SQL."""
    ctx = worker_context()
    outcome = run_job(ctx, key)
    if outcome.status == JobStatus.RETRYING:
        # If this hand-over fails the row still says retrying: a requeue delivers it.
        assert outcome.delivery is not None
        ctx.jobs.dispatch(key, outcome.delivery, outcome.retry_in or 0.0)
    return outcome.status.value if outcome.status is not None else None
