"""Escalation jobs on the jobs port: webhook delivery, takedown re-checks, the recurring sweep.

Jobs take ids, open their own sessions and are idempotent. Two ways get work onto the queue:

- right after commit: services call the jobs port's ``enqueue_after_commit`` (a new case's
  evidence, a webhook delivery);
- the recurring ``escalation.sweep`` (every ``escalation_sweep_seconds``): re-enqueues unsealed
  evidence bundles and pending webhook deliveries (a lost job, a crash between commit and
  enqueue), enqueues due takedown checks, recomputes source risk and suggests candidate
  sources. Each sweep enqueues the next one first, under a key named after its time slot, so several processes calling
  ``schedule_recurring`` never start two chains.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from saqshy.context import Context
from saqshy.db.session import session_scope
from saqshy.jobs import names
from saqshy.jobs.registry import job
from saqshy.scheduler import on_scheduler_start, register_periodic
from saqshy.services import sources
from triage_api.services import audit_checkpoints, cases, queue, retention, takedown, webhooks
from triage_api.services.audit import chain_pending

logger = logging.getLogger(__name__)

JOB_SWEEP = names.ESCALATION_SWEEP
JOB_TAKEDOWN_CHECK = names.TAKEDOWN_CHECK


@job(cases.JOB_BUILD_EVIDENCE)
def build_evidence(ctx: Context, case_id: int) -> None:
    """Seal a new case's evidence bundle and record its webhook delivery, then send it."""
    with session_scope(ctx.sessions) as session:
        cases.ensure_evidence(session, case_id, ctx.settings)


@job(webhooks.JOB_DELIVER, max_attempts=webhooks.max_delivery_attempts)
def deliver_webhook(ctx: Context, delivery_id: int) -> None:
    """Send one case to the police endpoint; raises (and is retried with backoff) on failure."""
    webhooks.deliver(ctx.sessions, ctx.settings, delivery_id)


@job(JOB_TAKEDOWN_CHECK)
def check_takedown(ctx: Context, case_id: int) -> None:
    """Re-check one case's URL (skipped when it was checked within the interval)."""
    takedown.check_case(ctx.sessions, ctx.settings, case_id)


@job(JOB_SWEEP)
def sweep(ctx: Context, slot: int) -> None:
    """Everything periodic about escalation; ``slot`` is the sweep's time slot (its key)."""
    schedule_recurring(ctx, after_slot=slot)
    enqueue_pending(ctx)
    with session_scope(ctx.sessions) as session:
        sources.refresh_discovery(session, ctx.settings)


def enqueue_pending(ctx: Context) -> dict[str, int]:
    """Hand pending deliveries and due takedown checks to the jobs port; return how many of each."""
    with session_scope(ctx.sessions) as session:
        unsealed = cases.unsealed_case_ids(session)
        deliveries = webhooks.pending_delivery_ids(session)
        due = takedown.due_case_ids(session, ctx.settings)
    for case_id in unsealed:
        ctx.jobs.enqueue(cases.JOB_BUILD_EVIDENCE, {"case_id": case_id}, key=cases.evidence_job_key(case_id))
    for delivery_id in deliveries:
        # Same key as the after-commit enqueue: a delivery in flight or in backoff is left alone.
        ctx.jobs.enqueue(webhooks.JOB_DELIVER, {"delivery_id": delivery_id}, key=webhooks.delivery_job_key(delivery_id))
    for case_id in due:
        ctx.jobs.enqueue(JOB_TAKEDOWN_CHECK, {"case_id": case_id}, key=f"{JOB_TAKEDOWN_CHECK}:{case_id}", force=True)
    return {"evidence": len(unsealed), "webhooks": len(deliveries), "takedown_checks": len(due)}


def schedule_recurring(ctx: Context, *, after_slot: int | None = None) -> str:
    """Make sure the next sweep is queued; idempotent across processes (one key per time slot)."""
    period = ctx.settings.escalation_sweep_seconds
    now = time.time()
    slot = max(math.floor(now / period) + 1, (after_slot or 0) + 1)
    delay = max(0.0, slot * period - now)
    return ctx.jobs.enqueue(JOB_SWEEP, {"slot": slot}, key=f"{JOB_SWEEP}:{slot}", delay=delay)


@on_scheduler_start
def start_sweeps(ctx: Context) -> None:
    """A scheduler (in ``saqshy serve`` on embedded defaults, or ``saqshy scheduler``) starts the sweep chain."""
    try:
        schedule_recurring(ctx)
    except Exception:
        logger.exception("could not schedule the escalation sweep (is the job queue reachable?)")


@job(names.QUEUE_SYNC_TASKS)
def sync_tasks(ctx: Context) -> int:
    """Turn new scores into review tasks (also run by the scoring job after each batch)."""
    return queue.sync_tasks_job(ctx)


@job(names.QUEUE_EXPIRE_LEASES)
def expire_leases(ctx: Context) -> int:
    return queue.expire_leases_job(ctx)


register_periodic(names.QUEUE_SYNC_TASKS, every=30)
register_periodic(names.QUEUE_EXPIRE_LEASES, every=60)


@job(audit_checkpoints.JOB_CHECKPOINT, max_attempts=3)
def audit_checkpoint(ctx: Context) -> None:
    """Sign the audit chain's head into the checkpoint file (a no-op while the head has not moved)."""
    chain_pending(ctx.engine)
    with session_scope(ctx.sessions) as session:
        audit_checkpoints.write_checkpoint(session, ctx.settings)


register_periodic(audit_checkpoints.JOB_CHECKPOINT, every=audit_checkpoints.CHECKPOINT_EVERY_SECONDS)


@job(retention.JOB_RETENTION, max_attempts=3)
def purge_expired(ctx: Context) -> dict[str, Any]:
    """The daily content retention run (triage_api/services/retention.py)."""
    return retention.run_retention(ctx.sessions, ctx.settings).to_dict()


register_periodic(retention.JOB_RETENTION, every=retention.RETENTION_EVERY_SECONDS)
