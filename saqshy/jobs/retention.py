"""Retention of the ``jobs`` table: finished rows are deleted after a while.

Every run of a recurring job leaves a row (its key names its period: ``search.drain_outbox``
every few seconds is thousands of rows a day), so without pruning the table only grows. The
recurring ``jobs.prune`` deletes, in small batches (short write transactions: on SQLite each one
holds the store's only writer):

- ``succeeded`` rows finished more than ``job_retention_days`` ago (default 14);
- ``failed`` rows finished more than ``job_failed_retention_days`` ago (default 90; 0 keeps them
  for ever). A failed job is how operators learn that something broke (``failed()``, ``saqshy
  jobs``, webhook deliveries that keep failing), and nothing records that someone has seen it,
  so failures are kept several times longer than successes, long enough to be seen and retried
  or dismissed; an operator who needs them longer sets 0.

Queued, running and retrying rows are never deleted. A deleted row's key can run again (the row is
what makes a second ``enqueue`` of a finished key a no-op), so the retention must be longer than
any window in which a key is enqueued again: periodic keys name their own period, and webhook
deliveries carry their own idempotency key downstream.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import JobRecord, JobStatus
from saqshy.jobs import names
from saqshy.jobs.registry import job
from saqshy.scheduler import register_periodic
from saqshy.timeutil import utcnow

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)

JOB_PRUNE = names.PRUNE_JOBS
PRUNE_EVERY_SECONDS = 3600.0
BATCH = 1000


def prune_jobs(sessions: sessionmaker[Session], *, succeeded_days: int, failed_days: int) -> dict[str, int]:
    """Delete finished job rows past their retention; returns how many of each status went."""
    now = utcnow()
    cutoffs = {JobStatus.SUCCEEDED: succeeded_days, JobStatus.FAILED: failed_days}
    deleted: dict[str, int] = {}
    for status, days in cutoffs.items():
        deleted[status.value] = 0
        if days <= 0:
            continue
        before = now - timedelta(days=days)
        while True:
            with sessions.begin() as session:
                ids = list(session.execute(
                    select(JobRecord.id)
                    .where(JobRecord.status == status, JobRecord.finished_at.is_not(None),
                           JobRecord.finished_at < before)
                    .order_by(JobRecord.id)
                    .limit(BATCH)
                ).scalars())
                if ids:
                    session.execute(delete(JobRecord).where(JobRecord.id.in_(ids), JobRecord.status == status))
            deleted[status.value] += len(ids)
            if len(ids) < BATCH:
                break
    if any(deleted.values()):
        logger.info("pruned job rows: %s", deleted)
    return deleted


@job(JOB_PRUNE)
def prune(ctx: Context) -> dict[str, int]:
    """The recurring sweep (hourly): see the module docstring."""
    return prune_jobs(ctx.sessions, succeeded_days=ctx.settings.job_retention_days,
                      failed_days=ctx.settings.job_failed_retention_days)


register_periodic(JOB_PRUNE, every=PRUNE_EVERY_SECONDS)
