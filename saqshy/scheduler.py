"""Recurring work: enqueue registered jobs on a fixed interval.

Packages declare what recurs next to the job itself::

    register_periodic("search.drain_outbox", every=5)

``saqshy serve`` runs a scheduler thread in-process on embedded defaults; with Redis, run one
``saqshy scheduler`` process (several are harmless: each period's job has one key, so a second
scheduler's enqueue is a no-op).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from saqshy.jobs.registry import registered_jobs

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: float
    args: dict[str, Any] = field(default_factory=dict)


_periodic: dict[str, PeriodicJob] = {}


def register_periodic(name: str, *, every: float, args: dict[str, Any] | None = None) -> None:
    if every <= 0:
        raise ValueError("a periodic job needs a positive interval")
    _periodic[name] = PeriodicJob(name=name, every=every, args=dict(args or {}))


_start_hooks: list[Callable[[Context], None]] = []


def on_scheduler_start(hook: Callable[[Context], None]) -> Callable[[Context], None]:
    """Run ``hook(ctx)`` when a scheduler starts (e.g. to start a self-rescheduling job chain)."""
    if hook not in _start_hooks:
        _start_hooks.append(hook)
    return hook


def periodic_key(name: str) -> str:
    """The key of a periodic job's runs: one at a time, whoever enqueues it."""
    return f"periodic:{name}"


def periodic_jobs() -> list[PeriodicJob]:
    import saqshy.jobs.catalog  # noqa: F401  (its modules import this one)

    return list(_periodic.values())


# Jobs recorded in SQL but not (or no longer) on the transport — queued by a crawl process,
# or lost with Redis — are handed over this often; jobs marked running by a worker that died
# are queued again after REQUEUE_STALE_AFTER_SECONDS.
REQUEUE_EVERY_SECONDS = 15.0
RESET_STALE_EVERY_SECONDS = 300.0
REQUEUE_STALE_AFTER_SECONDS = 900.0


class Scheduler:
    def __init__(self, ctx: Context, *, tick: float = 1.0) -> None:
        self.ctx = ctx
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_requeue = 0.0
        self._last_stale_reset = 0.0
        self._last_bucket: dict[str, int] = {}

    def run_once(self, now: float | None = None) -> list[str]:
        """Enqueue every periodic job whose period has started; return the keys enqueued."""
        now = time.time() if now is None else now
        known = registered_jobs()
        keys: list[str] = []
        for entry in periodic_jobs():
            if entry.name not in known:
                continue
            bucket = int(now // entry.every)
            if self._last_bucket.get(entry.name) == bucket:
                continue
            # One job row per periodic job, run again each period (force), never piling up:
            # while the last run is still queued or running, the enqueue is a no-op.
            try:
                keys.append(self.ctx.jobs.enqueue(entry.name, entry.args, key=periodic_key(entry.name), force=True))
                self._last_bucket[entry.name] = bucket
            except Exception:
                logger.exception("could not enqueue periodic job %s", entry.name)
        if now - self._last_requeue >= REQUEUE_EVERY_SECONDS:
            self._last_requeue = now
            reset_stale = now - self._last_stale_reset >= RESET_STALE_EVERY_SECONDS
            if reset_stale:
                self._last_stale_reset = now
            try:
                self.ctx.jobs.requeue_pending(stale_after=REQUEUE_STALE_AFTER_SECONDS if reset_stale else None)
            except Exception:
                logger.exception("could not requeue pending jobs")
        return keys

    def run_start_hooks(self) -> None:
        import saqshy.jobs.catalog  # noqa: F401  (its modules import this one)

        for hook in list(_start_hooks):
            try:
                hook(self.ctx)
            except Exception:
                logger.exception("scheduler start hook %r failed", hook)

    def run_forever(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.tick)

    def start(self) -> None:
        """Run in a background thread; call ``run_start_hooks`` first, once per process."""
        self._thread = threading.Thread(target=self.run_forever, name="saqshy-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
