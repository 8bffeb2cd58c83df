"""What every Saqshy spider shares: evidence, error counting, outlinks, item limits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionLost,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from crawlers.evidence import Fetch, FetchRef
from crawlers.extraction.binary import is_binary
from crawlers.extraction.canonical import canonical_url, host_of
from crawlers.extraction.media import resolve_refs
from crawlers.extraction.telegram import TelegramPost
from crawlers.items import ContentItem
from crawlers.middlewares import RedirectLoop
from crawlers.netguard import AddressRefused
from crawlers.progress import count_error

TELEGRAM_HOSTS = {"t.me", "telegram.me", "telegram.dog"}
_TELEGRAM_RESERVED = {"s", "share", "joinchat", "addstickers", "proxy", "socks", "iv", "c", "login", "setlanguage"}


def outlink_target(url: str) -> tuple[str, str] | None:
    """``(target, kind)`` for discovery: ``t.me/<channel>`` for Telegram, the host for a site."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = host_of(url)
    if host in TELEGRAM_HOSTS:
        segments = [s for s in parts.path.split("/") if s]
        if segments and segments[0] == "s":
            segments = segments[1:]
        if not segments or segments[0].lower() in _TELEGRAM_RESERVED or segments[0].startswith("+"):
            return None
        return f"t.me/{segments[0].lower()}", "telegram"
    return host, "site"


class SaqshySpider(scrapy.Spider):
    """Spider arguments: ``url``, ``source_id``, ``max_depth``, ``max_items``."""

    def __init__(
        self,
        url: str | None = None,
        source_id: int | str | None = None,
        max_depth: int | str = 2,
        max_items: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not url:
            raise ValueError(f"spider {self.name!r} needs a start URL (argument url=...)")
        self.start_url = url
        self.source_id = int(source_id) if source_id not in (None, "") else None
        self.max_depth = int(max_depth)
        self.max_items = int(max_items) if max_items not in (None, "", "0") else None
        self.items_yielded = 0

    @property
    def limit_reached(self) -> bool:
        return self.max_items is not None and self.items_yielded >= self.max_items

    # --- evidence ----------------------------------------------------------------------------

    def record(self, response: Response) -> FetchRef:
        """What was fetched, shared by every item of the response (written to WARC once)."""
        cached = response.meta.get("saqshy_fetch")
        if cached is not None and cached.fetch.url == response.url:
            return cached
        request = response.request
        assert request is not None
        ref = FetchRef(Fetch.of_response(request, response, fetched_at=response.meta.get("saqshy_fetched_at")))
        response.meta["saqshy_fetch"] = ref
        return ref

    def new_item(self, response: Response, **fields: Any) -> ContentItem:
        ref = self.record(response)
        item = ContentItem(
            source_id=self.source_id,
            content_type=_content_type(response),
            is_binary=False,
            fetch=ref,
            fetched_at=ref.fetch.fetched_at,
            server_ip=ref.fetch.server_ip,
            extra={},
            outlinks=[],
        )
        item.update(fields)
        self.items_yielded += 1
        return item

    def telegram_item(self, response: Response, post: TelegramPost) -> ContentItem:
        """One post of a Telegram channel preview (``extraction.telegram``), wherever the markup is."""
        links = list(post.links)
        if post.forwarded_from:
            links.append(post.forwarded_from)
        return self.new_item(
            response,
            url=post.permalink,
            canonical_url=post.permalink,
            post_id=str(post.post_id),
            author=post.author,
            published_at=post.published_at,
            title=None,
            text=post.text,
            outlinks=self.outlinks(links, f"t.me/{post.channel.lower()}"),
            extra={"channel": post.channel, "views": post.views, "links": post.links[:100]},
            media_urls=resolve_refs(post.images, response.url, 32) if post.images else None,
        )

    def binary_item(self, response: Response) -> ContentItem:
        """A binary is recorded by URL and hash only: no text, no WARC copy."""
        self.crawler.stats.inc_value("saqshy/binaries")
        self.items_yielded += 1
        return ContentItem(
            source_id=self.source_id,
            url=response.url,
            canonical_url=canonical_url(response.url),
            content_type=_content_type(response),
            is_binary=True,
            text="",
            sha256=hashlib.sha256(response.body).hexdigest(),
            size_bytes=len(response.body),
            fetched_at=response.meta.get("saqshy_fetched_at") or datetime.now(UTC),
            server_ip=str(response.ip_address) if response.ip_address else None,
            extra={},
            outlinks=[],
        )

    def is_binary_response(self, response: Response) -> bool:
        return not isinstance(response, TextResponse) or is_binary(_content_type(response), response.body)

    def check_body(self, response: Response) -> bool:
        """False (and counted) for a response with nothing in it."""
        if not response.body.strip():
            count_error(self.crawler.stats, "empty_body")
            self.logger.warning("empty body: %s", response.url)
            return False
        return True

    # --- errors ------------------------------------------------------------------------------

    def on_error(self, failure: Failure) -> None:
        """Errback of every request: a failed fetch is counted, never fatal to the crawl."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        optional = bool(request is not None and request.meta.get("saqshy_optional"))
        error = failure.value
        if isinstance(error, HttpError):
            status = error.response.status
            if optional and status in (404, 410):
                return
            kind = f"http_{status // 100}xx"
        elif isinstance(error, RedirectLoop):
            kind = "redirect_loop"
        elif isinstance(error, AddressRefused):
            return  # counted and logged where it was refused (crawlers.netguard)
        elif isinstance(error, IgnoreRequest):
            message = str(error)
            if "robots.txt" in message:
                self.crawler.stats.inc_value("saqshy/robots_forbidden")
                return
            kind = "redirects" if "redirect" in message.lower() else "ignored"
        elif isinstance(error, TimeoutError | TCPTimedOutError) or "Timeout" in type(error).__name__:
            kind = "timeout"
        elif isinstance(error, DNSLookupError | CannotResolveHostError):
            kind = "dns"
        elif isinstance(error, ConnectError | ConnectionLost | ResponseFailed):
            kind = "connection"
        elif "maxsize" in str(error).lower() or "max size" in str(error).lower() or "Cancel" in type(error).__name__:
            kind = "too_large"
        else:
            kind = type(error).__name__.lower()
        if optional:
            return
        count_error(self.crawler.stats, kind)
        self.logger.warning("fetch failed (%s): %s: %s", kind, url, error)

    def request(self, url: str, callback: Any, **kwargs: Any) -> scrapy.Request:
        # dont_filter stays False even for start requests: in distributed mode the shared
        # dupefilter is what stops two processes fetching the same start URL.
        kwargs.setdefault("dont_filter", False)
        return scrapy.Request(url, callback=callback, errback=self.on_error, **kwargs)

    def outlinks(self, urls: Iterable[str], own_host: str) -> list[list[str]]:
        found: dict[str, str] = {}
        for url in urls:
            host = host_of(url)
            if host == own_host and host not in TELEGRAM_HOSTS:
                continue  # most links of a page stay on its site: no full parse for those
            target = outlink_target(url)
            if target is not None and target[0] != own_host:
                found[target[0]] = target[1]
        return [[target, kind] for target, kind in found.items()]


def _content_type(response: Response) -> str | None:
    value = response.headers.get("Content-Type")
    return value.decode("latin-1")[:200] if value else None
