"""Scrapy defaults for every Saqshy crawl (the one defaults module), and how Saqshy ``Settings``
map onto them. Per-source values (depth, item limit) are spider arguments, not settings.
"""

from __future__ import annotations

import os
from typing import Any

from scrapy.settings import Settings as ScrapySettings

from saqshy import __version__
from saqshy.settings import Settings

BOT_NAME = "saqshy"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Politeness: robots.txt obeyed, AutoThrottle adapts the delay to the server's latency, and
# concurrency is capped per domain whatever the global concurrency is.
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 32  # Settings.crawler_concurrent_requests sets it
# Scrapy starts this many tasks for every response's output; 100 (the default) costs more
# than it saves when a page yields one item, and a Telegram page yields about 20.
CONCURRENT_ITEMS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# Safety: every fetch is bounded in time and size; redirects are bounded and loop-checked.
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
METAREFRESH_MAXDELAY = 5
RETRY_ENABLED = True
RETRY_TIMES = 1
DEPTH_LIMIT = 0  # depth is per source, enforced by the spiders
# Breadth-first: with a depth limit, Scrapy's default depth-first order reaches some pages first
# through a long chain, at a depth past the limit, and never follows their links.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
HTTPERROR_ALLOW_ALL = False
# Full item objects are logged at DEBUG only; the log stays readable during a crawl.
LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 0

# Every connection goes to an address the policy permits (crawlers.netguard, saqshy.netpolicy):
# the resolver checks each name it resolves; the middleware refuses address literals and reports.
TWISTED_DNS_RESOLVER = "crawlers.netguard.PolicyResolver"

DOWNLOADER_MIDDLEWARES = {
    # Past RetryMiddleware (550) on the way back, so a refused address is not retried.
    "crawlers.netguard.AddressPolicyMiddleware": 570,
    "crawlers.middlewares.RedirectLoopMiddleware": 610,
    "crawlers.middlewares.FetchMetadataMiddleware": 950,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.ExtractPipeline": 300,
    "crawlers.media.ImagePipeline": 400,
    "crawlers.pipelines.StorePipeline": 800,
}
EXTENSIONS = {
    "crawlers.progress.CrawlProgress": 500,
}

# Saqshy's own knobs.
# Worker processes for text extraction (trafilatura, language, SimHash); 0 extracts in-line.
SAQSHY_EXTRACT_PROCESSES = max(0, min(2, (os.cpu_count() or 1) - 1))
# Pages sent to a worker at a time, and the longest a page waits for its batch to fill.
SAQSHY_EXTRACT_BATCH = 64
SAQSHY_EXTRACT_BATCH_SECONDS = 0.25
SAQSHY_STORE_BATCH = 200
SAQSHY_STORE_FLUSH_SECONDS = 1.0
SAQSHY_SCORE_BATCH = 200
SAQSHY_NEARDUP_MAX_DISTANCE = 8
SAQSHY_NEARDUP_INDEX_SIZE = 200_000
# How long a distributed crawl waits for Redis to come back (a restart) before it gives up.
SAQSHY_REDIS_OUTAGE_SECONDS = 120
# Extra modules to import in the crawl process that register jobs (tests register stand-ins).
SAQSHY_JOB_MODULES: list[str] = []


def user_agent(settings: Settings) -> str:
    return f"SaqshyBot/{__version__} (+{settings.crawler_contact_url})"


def scrapy_settings(settings: Settings, *, overrides: dict[str, Any] | None = None) -> ScrapySettings:
    """Scrapy settings for a crawl: this module's defaults, then Saqshy settings, then overrides."""
    result = ScrapySettings()
    result.setmodule("crawlers.settings", priority="project")
    result.set("USER_AGENT", user_agent(settings), priority="project")
    result.set("DOWNLOAD_TIMEOUT", settings.crawler_timeout_seconds, priority="project")
    result.set("CONCURRENT_REQUESTS", settings.crawler_concurrent_requests, priority="project")
    result.set("DOWNLOAD_MAXSIZE", settings.crawler_max_body_bytes, priority="project")
    result.set("DOWNLOAD_WARNSIZE", min(2 * 1024 * 1024, settings.crawler_max_body_bytes), priority="project")
    result.set("SAQSHY_SETTINGS", settings, priority="project")
    result.set("SAQSHY_EVIDENCE_DIR", str(settings.evidence_dir), priority="project")
    if settings.redis_url:
        # Distributed mode: the frontier and the dupefilter live in Redis, so several crawler
        # processes on several machines split one crawl without fetching a URL twice.
        result.set("SCHEDULER", "crawlers.distributed.RedisOutageScheduler", priority="project")
        result.set("DUPEFILTER_CLASS", "scrapy_redis.dupefilter.RFPDupeFilter", priority="project")
        result.set("REDIS_URL", settings.redis_url, priority="project")
        # One process finishing must not wipe the queue the others are still working on;
        # the runner expires the keys instead.
        result.set("SCHEDULER_PERSIST", True, priority="project")
        result.set("SCHEDULER_IDLE_BEFORE_CLOSE", 2, priority="project")
        extensions = dict(result.getdict("EXTENSIONS"))
        extensions["crawlers.distributed.SharedCrawlPresence"] = 510
        result.set("EXTENSIONS", extensions, priority="project")
    for name, value in (overrides or {}).items():
        result.set(name, value, priority="cmdline")
    return result
