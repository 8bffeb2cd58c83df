"""Crawl counters: what the live progress and the summary show, kept in Scrapy's stats.

``saqshy/pages``, ``saqshy/items/{new,changed,unchanged,invalid}``, ``saqshy/errors`` and
``saqshy/errors/<kind>``. Spiders count fetch errors in their errback; this extension adds
the errors that escape them (an exception in a callback, an item a pipeline failed on).
"""

from __future__ import annotations

import logging
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

COUNTERS = ("pages", "items/new", "items/changed", "items/unchanged", "errors")


def count_error(stats: StatsCollector, kind: str) -> None:
    stats.inc_value("saqshy/errors")
    stats.inc_value(f"saqshy/errors/{kind}")


def snapshot(stats: StatsCollector) -> dict[str, int]:
    """The counters, plus the error kinds, as plain ints."""
    values = stats.get_stats()
    result = {name: int(values.get(f"saqshy/{name}", 0)) for name in COUNTERS}
    result["items/invalid"] = int(values.get("saqshy/items/invalid", 0))
    for key, value in values.items():
        name = key[7:] if isinstance(key, str) and key.startswith("saqshy/") else None
        if name and name not in result and isinstance(value, int):
            result[name] = value
    return result


class CrawlProgress:
    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats
        for name in COUNTERS:
            stats.set_value(f"saqshy/{name}", 0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        extension = cls(crawler.stats)
        crawler.signals.connect(extension.spider_error, signal=signals.spider_error)
        crawler.signals.connect(extension.item_error, signal=signals.item_error)
        return extension

    def spider_error(self, failure: Failure, response: Response, spider: Spider) -> None:
        count_error(self.stats, "parse")

    def item_error(self, item: Any, response: Response | None, spider: Spider, failure: Failure) -> None:
        count_error(self.stats, "item")
