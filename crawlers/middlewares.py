"""Downloader middlewares: fetch metadata for the evidence, and redirect-loop protection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self
from urllib.parse import urljoin

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector


class RedirectLoop(IgnoreRequest):
    """A redirect to a URL already visited in the same redirect chain."""


class FetchMetadataMiddleware:
    """Stamps each response with its fetch time (the evidence's WARC-Date) and counts pages.

    Placed next to the downloader, so the time is when the bytes arrived, not when the spider
    got around to the callback.
    """

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        request.meta["saqshy_fetched_at"] = datetime.now(UTC)
        # Pages only: an item's images are counted by the media pipeline (saqshy/media/*).
        if not request.url.endswith("/robots.txt") and "saqshy_media" not in request.meta:
            self.stats.inc_value("saqshy/pages")
        return response


class RedirectLoopMiddleware:
    """Fails a redirect that goes back to a URL of its own chain (A → B → A).

    Scrapy's RedirectMiddleware only caps the chain length, and the dupefilter would silently
    drop the looping request; here the loop is an error the crawl summary counts.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
            location = response.headers["Location"]
            assert location is not None
            target = urljoin(request.url, location.decode("latin-1"))
            chain = [*request.meta.get("redirect_urls", []), request.url]
            if target in chain:
                raise RedirectLoop(f"redirect loop: {' -> '.join([*chain, target])}")
        return response
