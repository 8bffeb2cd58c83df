"""The embedded job adapter: a small pool of threads inside the current process.

``settings.job_workers`` threads take due job keys from memory; retries wait in a heap ordered
by due time, watched by one scheduler thread that moves them to the ready list when due. Memory
is only the transport: every job is a row in SQL first, so jobs still waiting when the process
stops are handed over again by ``requeue_pending`` at the next start.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import JobStatus
from saqshy.errors import ServiceUnavailable
from saqshy.jobs.base import JobQueue
from saqshy.jobs.runner import run_job
from saqshy.settings import Settings

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)


class InProcessJobQueue(JobQueue):
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        context: Context | None = None,
        autostart: bool = True,
    ) -> None:
        super().__init__(settings, sessions)
        self._context = context
        self._own_context: Context | None = None
        self._cond = threading.Condition()
        self._ready: deque[str] = deque()
        self._delayed: list[tuple[float, int, str]] = []
        self._counter = itertools.count()
        self._carried: set[str] = set()  # keys ready, delayed or running
        self._running = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        if autostart:
            self.start()

    def bind(self, ctx: Context) -> None:
        """Run jobs with ``ctx`` (sharing its search engine) instead of a context of our own."""
        self._context = ctx

    def start(self) -> None:
        """Start the worker threads and the scheduler (idempotent)."""
        with self._cond:
            if self._closed:
                raise ServiceUnavailable("the in-process job pool is closed")
            if self._threads:
                return
            for number in range(self.settings.job_workers):
                thread = threading.Thread(target=self._work, name=f"saqshy-job-{number}", daemon=True)
                self._threads.append(thread)
            self._threads.append(threading.Thread(target=self._schedule, name="saqshy-job-scheduler", daemon=True))
        for thread in self._threads:
            thread.start()

    def dispatch(self, key: str, delivery: str, delay: float = 0.0, *, if_missing: bool = False) -> bool:
        with self._cond:
            if self._closed:
                raise ServiceUnavailable("the in-process job pool is closed")
            if if_missing and key in self._carried:
                return False
            self._push(key, delay)
        return True

    def _push(self, key: str, delay: float) -> None:
        # Caller holds the lock.
        self._carried.add(key)
        if delay > 0:
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._counter), key))
        else:
            self._ready.append(key)
        self._cond.notify_all()

    def is_running(self, key: str, delivery: str) -> bool:
        with self._cond:
            return key in self._carried

    def _schedule(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                moved = False
                while self._delayed and self._delayed[0][0] <= now:
                    self._ready.append(heapq.heappop(self._delayed)[2])
                    moved = True
                if moved:
                    self._cond.notify_all()
                timeout = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key = self._ready.popleft()
                self._running += 1
            try:
                self._run(key)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, key: str) -> None:
        retry_in: float | None = None
        try:
            outcome = run_job(self._job_context(), key)
            if outcome.status == JobStatus.RETRYING:
                retry_in = outcome.retry_in or 0.0
        except Exception:
            # The store itself failed (the job's own errors are recorded by run_job): the row
            # keeps its state and the next requeue hands it over again.
            logger.exception("job %s could not be run", key)
        finally:
            with self._cond:
                self._carried.discard(key)
                if retry_in is not None:
                    if self._closed:
                        logger.info("job %s will be retried after the next start (pool closed)", key)
                    else:
                        # Under the same lock as the discard: the pool never looks drained in between.
                        self._push(key, retry_in)

    def wait_drained(self, timeout: float | None = None) -> bool:
        """Wait until this pool carries nothing (ready, delayed or running); False on timeout.

        Unlike ``wait_idle`` this ignores jobs other processes are running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._carried or self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _job_context(self) -> Context:
        if self._context is not None:
            return self._context
        with self._cond:
            if self._own_context is None:
                from saqshy.context import Context

                engine = self.sessions.kw.get("bind")
                if engine is None:
                    raise ServiceUnavailable("the job pool's session factory is not bound to an engine")
                self._own_context = Context(settings=self.settings, engine=engine, sessions=self.sessions, _jobs=self)
            return self._own_context

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking jobs, let running ones finish (up to ``timeout`` seconds each thread)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            left = len(self._ready) + len(self._delayed)
            self._cond.notify_all()
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout)
        if left:
            logger.info("%d jobs left queued in the store; they run after the next start", left)
        own, self._own_context = self._own_context, None
        if own is not None:
            # Only the search engine is ours; the engine and sessions belong to the caller.
            own.close_search()
