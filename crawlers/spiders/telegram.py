"""``telegram``: a public channel's web preview; every post its own item.

The start URL may be ``https://t.me/s/<channel>``, ``t.me/<channel>``, ``@channel`` or any URL
that serves the same preview markup (a mirror, a test server). Older posts come from the
``?before=<id>`` pages, down to ``until`` (an ISO date) or ``max_items`` posts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy.http import Response, TextResponse

from crawlers.extraction.canonical import host_of
from crawlers.extraction.telegram import channel_from_url, parse_preview
from crawlers.spiders.base import SaqshySpider

# Posts older than the read-back window, left out (the summary says so when nothing else was new).
TOO_OLD = "saqshy/telegram/too_old"


class TelegramSpider(SaqshySpider):
    name = "telegram"

    def __init__(self, *args: Any, until: str | datetime | None = None, **kwargs: Any) -> None:
        url = kwargs.get("url") or (args[0] if args else None)
        if url and "://" not in url:
            kwargs["url"] = f"https://t.me/s/{channel_from_url(url)}"
        super().__init__(*args, **kwargs)
        if isinstance(until, str) and until:
            until = datetime.fromisoformat(until)
        if isinstance(until, datetime) and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        self.until: datetime | None = until or None
        if self.max_items is None:
            self.max_items = 1000
        self.pages = 0

    async def start(self) -> AsyncIterator[Any]:
        yield self.request(self.start_url, self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self.check_body(response) or not isinstance(response, TextResponse):
            return
        self.pages += 1
        posts = parse_preview(response.selector)
        if not posts:
            if self.pages == 1:
                self.logger.warning("no Telegram posts found at %s (not a channel preview?)", response.url)
            return
        reached_until = False
        for post in sorted(posts, key=lambda p: p.post_id, reverse=True):
            if self.limit_reached:
                break
            if self.until and post.published_at and post.published_at < self.until:
                reached_until = True
                self.crawler.stats.inc_value(TOO_OLD)
                continue
            yield self.telegram_item(response, post)
        if reached_until or self.limit_reached:
            return
        oldest = min(post.post_id for post in posts)
        if oldest <= 1:
            return
        more = response.css("a.tme_messages_more[data-before]::attr(href)").get()
        parts = urlsplit(response.url)
        url = urljoin(response.url, more) if more else f"{parts.scheme}://{parts.netloc}{parts.path}?before={oldest}"
        if host_of(url) == host_of(response.url):
            yield self.request(url, self.parse)
