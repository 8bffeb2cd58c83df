"""Crawler jobs on the jobs port: ``crawl.due`` crawls every due source, checked every minute."""

from __future__ import annotations

from typing import Any

from saqshy.jobs import names
from saqshy.jobs.registry import job
from saqshy.scheduler import register_periodic


@job(names.CRAWL_DUE, max_attempts=1, timeout=6 * 3600)
def crawl_due(ctx: Any, sources: list[str] | None = None) -> dict[str, Any]:
    from crawlers.runner import run_crawl
    from saqshy.metrics import count_crawl

    # A child process: the Twisted reactor runs once per process, and a job worker lives long.
    # Due sources are claimed when the crawl starts, so an overlapping run skips them.
    summary = run_crawl(ctx.settings, sources or None)
    count_crawl(summary)
    return summary.to_dict()


register_periodic(names.CRAWL_DUE, every=60)
