"""The scheduler enqueues each periodic job once per period and never piles them up."""

from __future__ import annotations

from saqshy.context import Context
from saqshy.scheduler import Scheduler, periodic_jobs


def test_each_periodic_job_is_enqueued_once_per_period(ctx: Context) -> None:
    names = {p.name for p in periodic_jobs()}
    assert {"search.drain_outbox", "queue.sync_tasks", "queue.expire_leases"} <= names
    scheduler = Scheduler(ctx)
    first = scheduler.run_once(now=1_000_000.0)
    assert {f"periodic:{name}" for name in names if name in {k.split(":", 1)[1] for k in first}}
    assert len(first) == len(set(first))
    # Same period: nothing new.
    assert scheduler.run_once(now=1_000_000.5) == []
    assert ctx.jobs.wait_idle(timeout=60)
    # Next period of the 5-second drain: it runs again under the same key (one row, not a pile).
    again = scheduler.run_once(now=1_000_010.0)
    assert "periodic:search.drain_outbox" in again
    assert ctx.jobs.wait_idle(timeout=60)
    info = ctx.jobs.get("periodic:search.drain_outbox")
    assert info is not None and info.status == "succeeded"
