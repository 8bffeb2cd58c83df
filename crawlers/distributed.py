"""Distributed mode: several crawler processes share one crawl through Redis (scrapy-redis).

scrapy-redis shares the frontier (``<prefix>:requests``) and the dupefilter
(``<prefix>:dupefilter``), so no URL is fetched twice. What it does not do is keep a process
open while a peer is still working: a process that finds the shared queue empty would close,
although the peer's pages in flight are about to add links. ``SharedCrawlPresence`` marks a
busy process in Redis (``<prefix>:busy:<worker>``, a key that expires a few seconds after the
process goes idle) and keeps an idle process open while any peer is busy.

The frontier lives only in Redis, which is why a deployment runs Redis with an append-only file:
a restart then gives every page back. A Redis that comes back empty has dropped the pages not yet
fetched; the crawl cannot know them any more, so it says so (``frontier/lost``, and the runner keeps
the source due to be crawled again) instead of finishing as if it were complete. The loss shows as
the crawl's marker key (``<prefix>:frontier``, set when the first process starts) gone missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, Self

import redis
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet import task

logger = logging.getLogger(__name__)

BUSY_TTL_SECONDS = 4
FRONTIER_LOST = "saqshy/frontier/lost"


class SharedCrawlPresence:
    def __init__(self, crawler: Crawler, client: redis.Redis, prefix: str) -> None:
        self.crawler = crawler
        self.client = client
        self.prefix = prefix
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{id(crawler)}"
        self.my_key = f"{prefix}:busy:{self.worker}"
        self.frontier_key = f"{prefix}:frontier"
        self.lost = False
        self._beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        prefix = crawler.settings.get("SAQSHY_SHARED_CRAWL_KEY")
        url = crawler.settings.get("REDIS_URL")
        if not prefix or not url:
            raise NotConfigured("not a distributed crawl")
        extension = cls(crawler, redis.Redis.from_url(url), prefix)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.client.set(self.frontier_key, 1, nx=True)
        self.client.set(self.my_key, 1, ex=BUSY_TTL_SECONDS)
        self._beat = task.LoopingCall(self.beat)
        self._beat.start(1.0, now=False)

    def beat(self) -> None:
        engine = self.crawler.engine
        try:
            self.check_frontier()
            if engine is not None and not engine.spider_is_idle():
                self.client.set(self.my_key, 1, ex=BUSY_TTL_SECONDS)
        except redis.RedisError:
            pass  # Redis down or restarting: the client reconnects on the next beat

    def check_frontier(self) -> None:
        if not self.lost and not self.client.exists(self.frontier_key):
            self.frontier_lost()

    def frontier_lost(self) -> None:
        # Every process of the crawl sees the marker missing and reports it once, so none of them
        # marks the source crawled.
        self.lost = True
        logger.error("the shared frontier %s is gone (Redis came back empty: run it with appendonly yes); "
                     "pages not fetched yet are dropped and the source will be crawled again", self.prefix)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(FRONTIER_LOST)

    def spider_idle(self, spider: Spider) -> None:
        try:
            self.check_frontier()
            queued = self.client.zcard(f"{self.prefix}:requests") or self.client.llen(f"{self.prefix}:requests")
        except redis.ResponseError:  # a FIFO/LIFO queue is a list, the default priority queue a zset
            queued = self.client.llen(f"{self.prefix}:requests")
        except redis.RedisError:
            return
        peers = [key for key in self.client.scan_iter(f"{self.prefix}:busy:*") if key.decode() != self.my_key]
        if queued or peers:
            raise DontCloseSpider("a peer process is still crawling")

    def spider_closed(self, spider: Spider, reason: Any = None) -> None:
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self.my_key)
