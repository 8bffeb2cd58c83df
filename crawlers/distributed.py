"""Distributed mode: several crawler processes share one crawl through Redis (scrapy-redis).

scrapy-redis shares the frontier (``<prefix>:requests``) and the dupefilter
(``<prefix>:dupefilter``), so no URL is fetched twice. What it does not do is keep a process
open while a peer is still working: a process that finds the shared queue empty would close,
although the peer's pages in flight are about to add links. ``SharedCrawlPresence`` marks a
busy process in Redis (``<prefix>:busy:<worker>``, a key that expires a few seconds after the
process goes idle) and keeps an idle process open while any peer is busy.

``RedisOutageScheduler`` rides out a Redis restart: a request that cannot be queued while Redis is
away is held in memory and queued when it answers again, and the process stays open meanwhile.

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
import time
from collections import deque
from typing import Any, Self

import redis
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy_redis.scheduler import Scheduler
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


class RedisOutageScheduler(Scheduler):
    """scrapy-redis's scheduler, kept going through a Redis restart.

    A request that cannot be queued is held here and queued, in order, once Redis answers again
    (before anything else is taken from the frontier); a pop that fails is "nothing right now",
    and the engine asks again. While Redis is away the process has pending requests, so it does
    not close; after ``SAQSHY_REDIS_OUTAGE_SECONDS`` without Redis it gives up and closes.
    """

    def __init__(self, *args: Any, outage_seconds: float = 120.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: deque[Request] = deque()
        self.outage_seconds = outage_seconds
        self.unreachable_since: float | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        instance: Self = super().from_settings(settings)
        instance.outage_seconds = settings.getfloat("SAQSHY_REDIS_OUTAGE_SECONDS", 120.0)
        return instance

    def enqueue_request(self, request: Request) -> bool:
        if self._release_held():
            try:
                queued = bool(super().enqueue_request(request))
            except redis.RedisError as exc:
                self._unreachable(exc)
            else:
                self._reachable()
                return queued
        self.held.append(request)
        return True

    def next_request(self) -> Request | None:
        if not self._release_held():
            return None
        try:
            request: Request | None = super().next_request()
        except redis.RedisError as exc:
            self._unreachable(exc)
            return None
        self._reachable()
        return request

    def has_pending_requests(self) -> bool:
        try:
            pending = bool(self.held) or bool(super().has_pending_requests())
        except redis.RedisError as exc:
            self._unreachable(exc)
            pending = True
        outage = time.monotonic() - self.unreachable_since if self.unreachable_since is not None else 0.0
        if pending and outage > self.outage_seconds:
            logger.error("Redis unreachable for over %.0fs: closing with %d requests not queued",
                         self.outage_seconds, len(self.held))
            return False
        return pending

    def _release_held(self) -> bool:
        """Queue the held requests, oldest first; False while Redis is still away."""
        while self.held:
            try:
                super().enqueue_request(self.held[0])
            except redis.RedisError as exc:
                self._unreachable(exc)
                return False
            self.held.popleft()
            self._reachable()
        return True

    def _reachable(self) -> None:
        if self.unreachable_since is not None:
            logger.warning("Redis is back after %.1fs; the crawl goes on", time.monotonic() - self.unreachable_since)
            self.unreachable_since = None

    def _unreachable(self, exc: redis.RedisError) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
            logger.warning("Redis is unreachable (%s): holding new requests until it is back", exc)
