"""Search jobs: the outbox catch-up (every few seconds) and the full rebuild.

``search.drain_outbox`` raises ``SearchUnavailable`` while Elasticsearch is down: the job system
retries it with backoff and shows the failure, and the outbox rows wait in SQL meanwhile.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from saqshy.jobs import names
from saqshy.jobs.registry import job
from saqshy.scheduler import register_periodic
from saqshy.search.indexer import index_pending, reindex

if TYPE_CHECKING:
    from saqshy.context import Context


@job(names.SEARCH_DRAIN_OUTBOX)
def drain_outbox_job(ctx: Context) -> dict[str, Any]:
    return asdict(index_pending(ctx))


# A full rebuild can take long on a big store: one attempt per request, no 6-hour cap surprise.
@job(names.SEARCH_REINDEX, max_attempts=1, timeout=24 * 3600)
def reindex_job(ctx: Context) -> dict[str, Any]:
    return asdict(reindex(ctx))


register_periodic(names.SEARCH_DRAIN_OUTBOX, every=5)
