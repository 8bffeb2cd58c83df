"""The jobs port: one interface, two adapters (in-process pool, RQ on Redis).

The SQL store is the record of every job (table ``jobs``); the adapter only carries job keys
to workers. A job's row is written before it is handed to the transport, so a transport that
loses its state (Redis flushed, the process restarted) is rebuilt from SQL by
``requeue_pending``, and a job that keeps failing ends with ``status=failed`` and its error in
``last_error``, listed by ``failed()``: nothing is lost, nothing fails silently.

Work a transaction asks for runs after it commits: ``enqueue_after_commit(session, name, args)``
holds the job on the session and enqueues it once the transaction commits (a rollback drops it).
Every ``Context`` wires its session factory to its jobs port (``watch_commits``), once.

Lifecycle of a row::

    queued ──run──▶ running ──ok──▶ succeeded ──enqueue(force=True)──▶ queued
                      │  ╰──error, attempts left──▶ retrying ──after backoff──▶ running
                      ╰──error, none left (or a permanent error)──▶ failed ──retry()──▶ queued
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import JobRecord, JobStatus
from saqshy.db.session import session_scope
from saqshy.errors import Conflict, ErrorCode, InvalidInput, InvalidTransition, NotFound, SaqshyError
from saqshy.jobs.registry import check_args, get_job_spec
from saqshy.logs import current_request_id
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)

# A job in one of these states will run (or is running): enqueuing its key again does nothing.
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)
MAX_KEY_CHARS = 200


class PermanentJobError(SaqshyError):
    """Raised by a job whose failure a retry cannot fix: the job is marked failed at once."""


class JobCancelled(PermanentJobError):
    """Raised at a progress report of a job someone asked to cancel: it ends failed, not retried."""


@dataclass(frozen=True)
class JobInfo:
    key: str
    name: str
    args: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    last_error: str | None
    enqueued_at: datetime
    next_attempt_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] | None = None
    cancel_requested_at: datetime | None = None

    @classmethod
    def from_record(cls, record: JobRecord) -> JobInfo:
        return cls(
            key=record.key,
            name=record.name,
            args=dict(record.args or {}),
            status=JobStatus(record.status),
            attempts=record.attempts,
            max_attempts=record.max_attempts,
            last_error=record.last_error,
            enqueued_at=as_utc(record.enqueued_at) or record.enqueued_at,
            next_attempt_at=as_utc(record.next_attempt_at),
            started_at=as_utc(record.started_at),
            finished_at=as_utc(record.finished_at),
            progress=dict(record.progress) if record.progress else None,
            cancel_requested_at=as_utc(record.cancel_requested_at),
        )


def normalise_args(args: dict[str, Any] | None) -> dict[str, Any]:
    """The args as they will come back from the store: JSON only, keys strings."""
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise InvalidInput(f"job args must be a dict, not {type(args).__name__}")
    try:
        return dict(json.loads(json.dumps(args, allow_nan=False, ensure_ascii=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"job args must be JSON (ids, strings, numbers): {exc}") from None


def default_key(name: str, args: dict[str, Any]) -> str:
    """The same job with the same args gets the same key: that is what makes enqueue idempotent."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{name}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def delivery_id(enqueued_at: datetime, attempts: int) -> str:
    """Names one hand-over of a job: the same delivery handed over twice keeps its name, while a
    retry, a forced re-run or a manual retry gets a new one (``enqueued_at`` changes on every
    enqueue). RQ uses it in its job id; characters are ``[0-9a-f-]``."""
    stamp = as_utc(enqueued_at) or enqueued_at
    return f"{round(stamp.timestamp() * 1_000_000):x}-{attempts}"


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Wait before the retry that follows failed attempt ``attempt`` (1-based): base × 2^(attempt-1), capped."""
    exponent = min(max(attempt - 1, 0), 60)
    return float(min(settings.job_backoff_seconds * math.pow(2, exponent), settings.job_backoff_max_seconds))


def _queue_again(record: JobRecord, now: datetime, due: datetime | None = None) -> None:
    """A fresh run of a recorded job: queued, no attempt made, nothing left of the last run."""
    record.status = JobStatus.QUEUED
    record.attempts = 0
    record.enqueued_at = now
    record.next_attempt_at = due
    record.started_at = None
    record.finished_at = None
    record.progress = None
    record.cancel_requested_at = None


@dataclass(frozen=True)
class AfterCommitJob:
    """A job a transaction asked for, enqueued once it commits."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


@dataclass(frozen=True)
class _EnqueueRequest:
    """One checked ``enqueue`` call: what to record, and when it was asked for."""

    name: str
    args: dict[str, Any]
    key: str
    max_attempts: int
    force: bool
    now: datetime
    due: datetime | None


class JobQueue(abc.ABC):
    """Enqueue jobs, inspect them, retry failed ones. Adapters only implement ``dispatch``."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    # --- transport: what an adapter implements ------------------------------------------------

    @abc.abstractmethod
    def dispatch(self, key: str, delivery: str, delay: float = 0.0, *, if_missing: bool = False) -> bool:
        """Hand job ``key`` to the workers, to run in ``delay`` seconds.

        ``delivery`` (from ``delivery_id``) names this hand-over: a retry is a new delivery.
        With ``if_missing`` the delivery is skipped when the transport already carries it.
        Returns whether a delivery was made. The row must already be in SQL.
        """

    def bind(self, ctx: Context) -> None:  # noqa: B027 - optional hook, not abstract
        """Give the adapter the context its jobs run with, where they run in this process.

        The in-process pool then shares ``ctx`` (its search engine, its loaded models); RQ jobs
        run in the worker's own context, so RQ ignores this.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release the transport (threads, connections)."""

    # --- producer side ------------------------------------------------------------------------

    def enqueue(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        delay: float = 0,
        force: bool = False,
        max_attempts: int | None = None,
    ) -> str:
        """Record job ``name(**args)`` and hand it to the workers; return its key.

        Idempotent: a key that is queued, running or retrying is left alone; a succeeded key
        runs again only with ``force=True``; a failed key is queued again. The default key is
        derived from ``name`` and ``args``. Bad input raises ``InvalidInput`` and records nothing.
        """
        wanted = self._checked_request(name, args, key=key, delay=delay, force=force, max_attempts=max_attempts)
        try:
            with session_scope(self.sessions) as session:
                if not self._record(session, wanted):
                    return wanted.key
        except IntegrityError:
            # Another producer recorded the same key between our read and our insert: it is
            # queued now, and that producer hands it to the transport.
            return wanted.key
        self._dispatch_or_raise(wanted.key, delivery_id(wanted.now, 0), delay)
        return wanted.key

    def _checked_request(
        self,
        name: str,
        args: dict[str, Any] | None,
        *,
        key: str | None,
        delay: float,
        force: bool,
        max_attempts: int | None,
    ) -> _EnqueueRequest:
        """The request ``enqueue`` records, or ``InvalidInput`` for bad input."""
        spec = get_job_spec(name)
        clean = normalise_args(args)
        check_args(spec, clean)
        if not math.isfinite(delay) or delay < 0:
            raise InvalidInput(f"job delay must be a finite number of seconds >= 0, not {delay!r}")
        attempts_allowed = max_attempts if max_attempts is not None else spec.attempts(self.settings)
        if attempts_allowed < 1:
            raise InvalidInput("max_attempts must be at least 1")
        key = default_key(name, clean) if key is None else key
        if not key or len(key) > MAX_KEY_CHARS or key != key.strip():
            raise InvalidInput(f"job key must be 1-{MAX_KEY_CHARS} characters without outer spaces")
        now = utcnow()
        due = now + timedelta(seconds=delay) if delay else None
        return _EnqueueRequest(name, clean, key, attempts_allowed, force, now, due)

    def _record(self, session: Session, wanted: _EnqueueRequest) -> bool:
        """Write the job's row; returns whether it needs a fresh delivery (False: it was already recorded)."""
        key, name = wanted.key, wanted.name
        record = session.scalars(select(JobRecord).where(JobRecord.key == key).with_for_update()).one_or_none()
        if record is not None and record.name != name:
            raise Conflict(f"job key {key!r} belongs to job {record.name!r}, not {name!r}", key=key)
        if record is None:
            session.add(
                JobRecord(
                    key=key,
                    name=name,
                    args=wanted.args,
                    status=JobStatus.QUEUED,
                    attempts=0,
                    max_attempts=wanted.max_attempts,
                    enqueued_at=wanted.now,
                    next_attempt_at=wanted.due,
                    request_id=current_request_id(),
                )
            )
        elif record.status in ACTIVE_STATUSES or (record.status == JobStatus.SUCCEEDED and not wanted.force):
            self._keep_delivered(session, record, wanted)
            return False
        else:
            _queue_again(record, wanted.now, wanted.due)
            record.args = wanted.args
            record.max_attempts = wanted.max_attempts
            record.request_id = current_request_id()
        return True

    def _keep_delivered(self, session: Session, record: JobRecord, wanted: _EnqueueRequest) -> None:
        """Leave an already recorded job alone, but make sure the transport still carries it.

        It may have been lost with Redis; ``if_missing`` keeps it from being delivered twice.
        """
        status = JobStatus(record.status)
        delivery = delivery_id(record.enqueued_at, record.attempts)
        pending_due = as_utc(record.next_attempt_at)
        session.rollback()
        if status in (JobStatus.QUEUED, JobStatus.RETRYING):
            wait = max(0.0, (pending_due - wanted.now).total_seconds()) if pending_due else 0.0
            self._dispatch_logged(wanted.key, delivery, wait, if_missing=True)

    def enqueue_committed(self, jobs: Iterable[AfterCommitJob]) -> None:
        """Enqueue the jobs a committed transaction asked for (``enqueue_after_commit``).

        A failure is logged, never raised: the transaction stands, and the rows it wrote are what
        the producer's recurring sweep enqueues again.
        """
        for wanted in jobs:
            try:
                self.enqueue(wanted.name, wanted.args, key=wanted.key)
            except Exception:
                logger.exception("could not enqueue job %s %s after commit", wanted.name, wanted.args)

    def retry(self, key: str) -> None:
        """Queue a failed job again, with a fresh count of attempts."""
        with session_scope(self.sessions) as session:
            record = session.scalars(select(JobRecord).where(JobRecord.key == key).with_for_update()).one_or_none()
            if record is None:
                raise NotFound(f"no job with key {key!r}", key=key)
            if record.status != JobStatus.FAILED:
                raise InvalidTransition(
                    f"job {key!r} is {record.status}, only a failed job can be retried"
                    + (" (enqueue it with force=True to run it again)" if record.status == "succeeded" else ""),
                    key=key,
                )
            now = utcnow()
            _queue_again(record, now)
        self._dispatch_or_raise(key, delivery_id(now, 0), 0.0)

    def requeue_pending(self, *, stale_after: float | None = None, keys: Collection[str] | None = None) -> int:
        """Hand every queued or retrying job (or only those of ``keys``) to the transport again;
        return how many were handed.

        This rebuilds a lost transport from SQL. Deliveries the transport still holds are not
        duplicated (and not counted). Jobs marked running whose worker the transport knows has
        died are queued again first; with ``stale_after`` (seconds), so are jobs marked running
        for longer than that which the transport has lost track of.
        """
        self.reset_abandoned()
        if stale_after is not None:
            self.reset_stale(stale_after)
        now = utcnow()
        query = select(JobRecord).where(JobRecord.status.in_([JobStatus.QUEUED, JobStatus.RETRYING]))
        if keys is not None:
            query = query.where(JobRecord.key.in_(list(keys)))
        with session_scope(self.sessions) as session:
            pending = [
                (record.key, delivery_id(record.enqueued_at, record.attempts), as_utc(record.next_attempt_at))
                for record in session.scalars(query.order_by(JobRecord.id))
            ]
        handed = 0
        for key, delivery, due in pending:
            delay = max(0.0, (due - now).total_seconds()) if due is not None else 0.0
            handed += self.dispatch(key, delivery, delay, if_missing=True)
        if handed:
            logger.info("handed %d of %d pending jobs from the store to the workers", handed, len(pending))
        return handed

    def is_running(self, key: str, delivery: str) -> bool:
        """Whether the transport knows ``delivery`` of job ``key`` is running right now."""
        return False

    def worker_died(self, key: str, delivery: str) -> bool:
        """Whether the transport knows the worker that took ``delivery`` of job ``key`` is gone."""
        return False

    def reset_abandoned(self) -> int:
        """Queue again jobs marked running whose worker the transport knows has died (killed mid-job).

        Unlike ``reset_stale`` this needs no age: only a transport that tracks its workers' lives
        says so. Returns how many were queued again (or failed, having no attempt left).
        """
        return self._reset_running(lambda key, _, delivery: self.worker_died(key, delivery), "its worker died")

    def reset_stale(self, stale_after: float) -> int:
        """Queue again jobs marked running for more than ``stale_after`` seconds whose worker died.

        A job the transport still reports as running (a long training run) is left alone; one it
        has lost track of may run twice if its worker was only slow: jobs are idempotent.
        Returns how many were queued again (or failed, having no attempt left).
        """
        cutoff = utcnow() - timedelta(seconds=stale_after)

        def stale(key: str, started: datetime | None, delivery: str) -> bool:
            return (started is None or started < cutoff) and not self.is_running(key, delivery)

        return self._reset_running(stale, f"it was marked running for more than {stale_after:g}s")

    def _reset_running(self, abandoned: Callable[[str, datetime | None, str], bool], why: str) -> int:
        # Read, ask the transport, then update only rows unchanged since the read: no lock is held
        # while the transport answers, and an attempt that finished meanwhile is left alone.
        with session_scope(self.sessions) as session:
            running = session.execute(
                select(
                    JobRecord.key,
                    JobRecord.enqueued_at,
                    JobRecord.attempts,
                    JobRecord.max_attempts,
                    JobRecord.started_at,
                ).where(JobRecord.status == JobStatus.RUNNING)
            ).all()
        reset = 0
        for key, enqueued_at, attempts, max_attempts, started_at in running:
            # The delivery that claimed the row was named before the claim counted it.
            if not abandoned(key, as_utc(started_at), delivery_id(enqueued_at, max(attempts - 1, 0))):
                continue
            # A job that kills its worker every time must end visibly, not loop for ever.
            gives_up = attempts >= max_attempts
            values: dict[str, Any] = {"status": JobStatus.QUEUED}
            if gives_up:
                values = {
                    "status": JobStatus.FAILED,
                    "last_error": f"attempt {attempts}/{max_attempts} was abandoned: {why}",
                    "finished_at": utcnow(),
                }
            with session_scope(self.sessions) as session:
                changed = session.execute(
                    update(JobRecord)
                    .where(JobRecord.key == key, JobRecord.status == JobStatus.RUNNING, JobRecord.attempts == attempts)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            if getattr(changed, "rowcount", 0) == 1:
                logger.warning(
                    "job %s attempt %d was abandoned (%s): %s",
                    key,
                    attempts,
                    why,
                    "failed" if gives_up else "queued again",
                )
                reset += 1
        return reset

    def _dispatch_logged(self, key: str, delivery: str, delay: float, *, if_missing: bool = False) -> None:
        try:
            self.dispatch(key, delivery, delay, if_missing=if_missing)
        except Exception:
            logger.exception("job %s is recorded but could not be handed to the workers", key)

    def _dispatch_or_raise(self, key: str, delivery: str, delay: float) -> None:
        from saqshy.errors import ServiceUnavailable

        try:
            self.dispatch(key, delivery, delay)
        except SaqshyError:
            raise
        except Exception as exc:
            # The row is in SQL, so the job is not lost: the next enqueue of the same key, a
            # worker start or `saqshy jobs requeue` hands it over once the transport is back.
            logger.error("job %s is recorded but could not be handed to the workers: %s", key, exc)
            raise ServiceUnavailable(
                f"job {key!r} is recorded but the job queue is unreachable ({exc}); "
                "it will run once the queue is back (`saqshy jobs requeue`)",
                key=key,
            ) from exc

    # --- progress and cancellation ------------------------------------------------------------

    def report_progress(
        self, key: str, stage: str, fraction: float, message: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        """Record how far job ``key`` is; raise ``JobCancelled`` if someone asked to cancel it.

        The ETA assumes the rest goes at the pace so far (from ``started_at``).
        """
        fraction = min(1.0, max(0.0, float(fraction)))
        now = utcnow()
        with session_scope(self.sessions) as session:
            record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one_or_none()
            if record is None:
                raise NotFound(f"no job with key {key!r}", key=key)
            if record.cancel_requested_at is not None:
                cancelled = True
            else:
                cancelled = False
                started = as_utc(record.started_at)
                elapsed = (now - started).total_seconds() if started else 0.0
                eta = round(elapsed * (1 - fraction) / fraction, 1) if fraction > 0 else None
                record.progress = {
                    "stage": stage,
                    "fraction": round(fraction, 4),
                    "message": message[:500],
                    "eta_seconds": eta,
                    "updated_at": now.isoformat(timespec="seconds"),
                    **({"detail": normalise_args(detail)} if detail else {}),
                }
        if cancelled:
            raise JobCancelled(f"job {key!r} was cancelled", key=key)

    def cancel(self, key: str) -> JobInfo:
        """Cancel a job: one not started yet ends at once; a running one at its next progress report."""
        now = utcnow()
        with session_scope(self.sessions) as session:
            record = session.scalars(select(JobRecord).where(JobRecord.key == key).with_for_update()).one_or_none()
            if record is None:
                raise NotFound(f"no job with key {key!r}", key=key)
            if record.status not in ACTIVE_STATUSES:
                raise InvalidTransition(f"job {key!r} is {record.status} and cannot be cancelled",
                                        code=ErrorCode.JOB_NOT_CANCELLABLE, key=key)
            record.cancel_requested_at = now
            if record.status != JobStatus.RUNNING:
                record.status = JobStatus.FAILED
                record.finished_at = now
                record.next_attempt_at = None
                record.last_error = "JobCancelled: cancelled before it started"
            session.flush()
            return JobInfo.from_record(record)

    # --- inspection ---------------------------------------------------------------------------

    def get(self, key: str) -> JobInfo | None:
        with session_scope(self.sessions) as session:
            record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one_or_none()
            return JobInfo.from_record(record) if record is not None else None

    def list_jobs(self, status: JobStatus | str | None = None, *, limit: int = 100) -> list[JobInfo]:
        """Newest first."""
        query = select(JobRecord).order_by(JobRecord.id.desc()).limit(limit)
        if status is not None:
            try:
                query = query.where(JobRecord.status == JobStatus(status))
            except ValueError:
                choices = ", ".join(s.value for s in JobStatus)
                raise InvalidInput(f"unknown job status {status!r} (one of: {choices})") from None
        with session_scope(self.sessions) as session:
            return [JobInfo.from_record(record) for record in session.scalars(query)]

    def failed(self, *, limit: int = 100) -> list[JobInfo]:
        """Jobs that ran out of attempts (or failed permanently), newest first."""
        return self.list_jobs(JobStatus.FAILED, limit=limit)

    def counts(self) -> dict[str, int]:
        with session_scope(self.sessions) as session:
            rows = session.execute(select(JobRecord.status, func.count()).group_by(JobRecord.status)).all()
        found = {JobStatus(status).value: count for status, count in rows}
        return {status.value: found.get(status.value, 0) for status in JobStatus}

    def pending_count(self, *, due_before: datetime | None = None) -> int:
        """Jobs queued, running or retrying; with ``due_before``, only those due by then."""
        query = select(func.count()).select_from(JobRecord)
        if due_before is None:
            query = query.where(JobRecord.status.in_(ACTIVE_STATUSES))
        else:
            query = query.where(
                or_(
                    JobRecord.status == JobStatus.RUNNING,
                    and_(
                        JobRecord.status.in_([JobStatus.QUEUED, JobStatus.RETRYING]),
                        or_(JobRecord.next_attempt_at.is_(None), JobRecord.next_attempt_at <= due_before),
                    ),
                )
            )
        with session_scope(self.sessions) as session:
            return int(session.scalar(query) or 0)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is left to run (per the store); False if some still are after ``timeout``.

        Jobs scheduled to start after the deadline (a recurring job's next run, a long
        backoff) do not count: they could not finish within the wait anyway.
        """
        due_before = utcnow() + timedelta(seconds=timeout)
        return self._poll(lambda: self.pending_count(due_before=due_before) == 0, timeout)

    def wait_for(self, keys: Iterable[str], timeout: float) -> bool:
        """Wait until each of the jobs ``keys`` has finished (succeeded or failed, per the store);
        False if some have not after ``timeout``.

        Unlike ``wait_idle`` this ignores every other job: one that another process queued and
        nobody here runs (a recurring job left by a server that was stopped) cannot hold it up.
        """
        wanted = sorted(set(keys))
        if not wanted:
            return True
        query = (
            select(func.count())
            .select_from(JobRecord)
            .where(JobRecord.key.in_(wanted), JobRecord.status.in_(ACTIVE_STATUSES))
        )

        def finished() -> bool:
            with session_scope(self.sessions) as session:
                return not session.scalar(query)

        return self._poll(finished, timeout)

    @staticmethod
    def _poll(done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = 0.01
        while True:
            if done():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.2)


# --- after commit -------------------------------------------------------------------------------

# The session's jobs waiting for its transaction to commit.
_AFTER_COMMIT = "saqshy.jobs.after_commit"


class HasJobs(Protocol):
    """What carries a jobs port (a ``Context``)."""

    @property
    def jobs(self) -> JobQueue: ...


# The key, in a session factory's ``info`` (copied into each session's), of the context whose jobs
# port carries its sessions' after-commit jobs, held weakly.
_JOBS_OWNER = "saqshy.jobs_owner"


def enqueue_after_commit(
    session: Session, name: str, args: dict[str, Any] | None = None, *, key: str | None = None
) -> None:
    """Enqueue job ``name(**args)`` once ``session``'s transaction commits; a rollback drops it.

    A job enqueued before commit could run before the rows it reads exist (and on SQLite it would
    wait for the very lock its producer holds). The job's retry policy is the one its ``@job``
    declares.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(AfterCommitJob(name, dict(args or {}), key))


def watch_commits(sessions: sessionmaker[Session], owner: HasJobs) -> None:
    """Send the after-commit jobs of the sessions ``sessions`` makes to ``owner.jobs``.

    Every ``Context`` calls it for its session factory; the latest one wins, and a dropped context
    keeps nothing alive.
    """
    sessions.configure(info={**sessions.kw.get("info", {}), _JOBS_OWNER: weakref.ref(owner)})


def _owner(session: Session) -> HasJobs | None:
    ref: weakref.ref[HasJobs] | None = session.info.get(_JOBS_OWNER)
    return ref() if ref is not None else None


def _enqueue_committed(session: Session) -> None:
    wanted: list[AfterCommitJob] | None = session.info.pop(_AFTER_COMMIT, None)
    if not wanted:
        return
    owner = _owner(session)
    if owner is None:
        logger.warning("no jobs port watches this session's factory: %s not enqueued (a sweep enqueues it)",
                       ", ".join(job.name for job in wanted))
        return
    try:
        queue = owner.jobs
    except Exception:
        logger.exception("the jobs port is not available: %s not enqueued", ", ".join(job.name for job in wanted))
        return
    queue.enqueue_committed(wanted)


def _drop_pending(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# Registered on the Session class: every session of the platform enqueues its jobs on commit.
event.listen(Session, "after_commit", _enqueue_committed)
event.listen(Session, "after_rollback", _drop_pending)
