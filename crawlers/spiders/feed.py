"""``feed``: RSS and Atom; each entry becomes an item with the entry's text.

The feed response is the evidence of its entries. Entries carry their own link as URL (the
canonical identity), so the same article seen through the feed and through the site collapses.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
from parsel import Selector
from scrapy.http import Response

from crawlers.extraction.canonical import canonical_url, host_of
from crawlers.extraction.media import image_refs
from crawlers.extraction.text import fragment_text
from crawlers.spiders.base import SaqshySpider


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


class FeedSpider(SaqshySpider):
    name = "feed"

    async def start(self) -> AsyncIterator[Any]:
        yield self.request(self.start_url, self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self.check_body(response):
            return
        parsed = feedparser.parse(response.body, response_headers={"content-type": "application/xml"})
        if not parsed.entries:
            self.crawler.stats.inc_value("saqshy/errors")
            self.crawler.stats.inc_value("saqshy/errors/not_a_feed")
            self.logger.warning("no feed entries at %s (bozo: %s)", response.url, parsed.get("bozo_exception"))
            return
        feed_host = host_of(response.url)
        for entry in parsed.entries:
            if self.limit_reached:
                break
            link = entry.get("link") or ""
            if not link.startswith(("http://", "https://")):
                continue
            html_parts = [c.get("value", "") for c in entry.get("content", [])] or [entry.get("summary", "")]
            text = "\n\n".join(filter(None, (fragment_text(part) for part in html_parts)))
            author = entry.get("author")
            images = [ref for part in html_parts if "<img" in part for ref in image_refs(Selector(text=part), link)]
            yield self.new_item(
                response,
                url=link,
                canonical_url=canonical_url(link),
                post_id=(entry.get("id") or None) and str(entry.get("id"))[:200],
                author=author[:500] if author else None,
                published_at=_time(entry.get("published_parsed") or entry.get("updated_parsed")),
                title=(entry.get("title") or None) and fragment_text(entry.get("title"))[:1000],
                text=text,
                outlinks=self.outlinks([link], feed_host),
                extra={"feed_url": response.url},
                media_urls=images or None,
            )
