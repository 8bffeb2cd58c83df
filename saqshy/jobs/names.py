"""Every job's name, once: producers import the name from here, never spell it again.

A light module (no imports), so a producer can name a job without importing the job's own
module and what that loads (the classifier's torch, the training stack, Scrapy).
"""

from __future__ import annotations

# saqshy
PRUNE_JOBS = "jobs.prune"
SEARCH_DRAIN_OUTBOX = "search.drain_outbox"
SEARCH_REINDEX = "search.reindex"

# classifier
SCORE_ITEMS = "score_items"
RESCORE_UNDECIDED = "classifier.rescore_undecided"
RETRAIN = "classifier.retrain"
DRIFT_REFERENCE = "classifier.drift_reference"

# crawlers
CRAWL_DUE = "crawl.due"

# triage_api
QUEUE_SYNC_TASKS = "queue.sync_tasks"
QUEUE_EXPIRE_LEASES = "queue.expire_leases"
BUILD_EVIDENCE = "cases.build_evidence"
WEBHOOK_DELIVER = "webhooks.deliver"
TAKEDOWN_CHECK = "takedown.check_case"
ESCALATION_SWEEP = "escalation.sweep"
AUDIT_CHECKPOINT = "audit.checkpoint"
RETENTION_PURGE = "retention.purge"
