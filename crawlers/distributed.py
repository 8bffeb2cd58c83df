"""Distributed mode: several crawler processes share one crawl through Redis (scrapy-redis).

scrapy-redis shares the frontier (``<prefix>:requests``) and the dupefilter
(``<prefix>:dupefilter``), so no URL is fetched twice. What it does not do is keep a process
open while a peer is still working: a process that finds the shared queue empty would close,
although the peer's pages in flight are about to add links. ``SharedCrawlPresence`` marks a
busy process in Redis (``<prefix>:busy:<worker>``, a key that expires a few seconds after the
process goes idle) and keeps an idle process open while any peer is busy.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any, Self

import redis
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet import task

BUSY_TTL_SECONDS = 4


class SharedCrawlPresence:
    def __init__(self, crawler: Crawler, client: redis.Redis, prefix: str) -> None:
        self.crawler = crawler
        self.client = client
        self.prefix = prefix
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{id(crawler)}"
        self.my_key = f"{prefix}:busy:{self.worker}"
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
        self.client.set(self.my_key, 1, ex=BUSY_TTL_SECONDS)
        self._beat = task.LoopingCall(self.beat)
        self._beat.start(1.0, now=False)

    def beat(self) -> None:
        engine = self.crawler.engine
        try:
            if engine is not None and not engine.spider_is_idle():
                self.client.set(self.my_key, 1, ex=BUSY_TTL_SECONDS)
        except redis.RedisError:
            pass

    def spider_idle(self, spider: Spider) -> None:
        try:
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
