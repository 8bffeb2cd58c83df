"""``site``: a website or forum, from its start URL, on its own domain, to a depth limit.

Reads ``sitemap.xml`` (and the sitemaps robots.txt names), follows ``rel=next`` pagination at
the same depth, records links to other domains and Telegram channels for discovery without
following them, and turns forum pages into one item per post (``extraction.forum``), as it does
pages with Telegram channel preview markup (``extraction.telegram``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from lxml import etree
from parsel import Selector
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawlers.extraction.canonical import host_of, page_canonical_url
from crawlers.extraction.forum import ForumPost, extract_posts
from crawlers.extraction.media import has_images, image_refs, resolve_refs
from crawlers.extraction.telegram import has_preview_markup, parse_preview
from crawlers.items import ContentItem
from crawlers.spiders.base import SaqshySpider

# Documents and archives linked from a page are fetched and recorded by hash; media that only
# decorates pages (styles, scripts, fonts, audio, video) is not fetched at all.
_DOCUMENTS = {"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "zip", "rar", "7z", "gz", "tar"}
DENY_EXTENSIONS = [ext for ext in IGNORED_EXTENSIONS if ext not in _DOCUMENTS]

# ``link[rel~=canonical]``, ``link[rel~=next]`` and ``a[rel~=next]`` in one compiled XPath: one
# pass over the tree instead of three, on every page of a crawl.
_HAS_REL = "contains(concat(' ', normalize-space(@rel), ' '), ' {} ')"
_REL_LINKS = etree.XPath(
    f"//link[@href][{_HAS_REL.format('canonical')} or {_HAS_REL.format('next')}]"
    f" | //a[@href][{_HAS_REL.format('next')}]"
)


def rel_links(root: Any) -> tuple[str | None, list[str]]:
    """The page's ``rel=canonical`` href (the first) and its ``rel=next`` hrefs, in page order."""
    canonical: str | None = None
    next_pages: list[str] = []
    for element in _REL_LINKS(root):
        rel = element.get("rel").split()
        if "next" in rel:
            next_pages.append(element.get("href"))
        if canonical is None and element.tag == "link" and "canonical" in rel:
            canonical = element.get("href")
    return canonical, next_pages


class SiteSpider(SaqshySpider):
    name = "site"

    def __init__(self, *args: Any, follow_external: bool | str = False, sitemap: bool | str = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        parts = urlsplit(self.start_url)
        self.host = host_of(self.start_url)
        self.root = f"{parts.scheme}://{parts.netloc}"
        self.follow_external = str(follow_external).lower() in ("1", "true", "yes")
        self.read_sitemap = str(sitemap).lower() not in ("0", "false", "no")
        self.links = LinkExtractor(deny_extensions=DENY_EXTENSIONS, unique=True)

    async def start(self) -> AsyncIterator[Any]:
        yield self.request(self.start_url, self.parse, meta={"saqshy_depth": 0}, priority=10)
        if self.read_sitemap:
            optional = {"saqshy_optional": True, "saqshy_depth": 1}
            yield self.request(self.root + "/robots.txt", self.parse_robots, meta=optional)
            yield self.request(self.root + "/sitemap.xml", self.parse_sitemap, meta=optional)

    def _same_site(self, url: str) -> bool:
        return host_of(url) == self.host

    # --- sitemaps ----------------------------------------------------------------------------

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            return
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            if self._same_site(url):
                yield self.request(url, self.parse_sitemap, meta={"saqshy_optional": True, "saqshy_depth": 1})

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        body = response.body
        if response.url.endswith(".gz") or body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except OSError:
                return
        try:
            sitemap = Sitemap(body)
        except Exception:  # not XML at all: an HTML 200 page at /sitemap.xml
            return
        for entry in sitemap:
            url = entry.get("loc")
            if not url or not self._same_site(url):
                continue
            if sitemap.type == "sitemapindex":
                yield self.request(url, self.parse_sitemap, meta={"saqshy_optional": True, "saqshy_depth": 1})
            elif not self.limit_reached:
                yield self.request(url, self.parse, meta={"saqshy_depth": 1})

    # --- pages -------------------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if self.limit_reached:
            return
        if self.is_binary_response(response):
            yield self.binary_item(response)
            return
        if not self.check_body(response):
            return
        assert isinstance(response, TextResponse)
        depth = int(response.meta.get("saqshy_depth", 0))
        selector, rel_canonical, links, next_pages = self._read_links(response)
        canonical = page_canonical_url(response.url, rel_canonical)
        outlinks = self.outlinks(links, self.host)
        yield from self._page_items(response, selector, canonical, outlinks)
        yield from self._follow(response, depth, next_pages, links)

    def _read_links(self, response: TextResponse) -> tuple[Selector | None, str | None, list[str], list[str]]:
        """The page's selector, rel=canonical, links and rel=next pages (none from markup lxml cannot parse)."""
        try:
            selector = response.selector
            rel_canonical, next_pages = rel_links(selector.root)
            links = [link.url for link in self.links.extract_links(response)]
        except (ValueError, AttributeError, TypeError) as exc:  # markup lxml cannot parse at all
            self.logger.warning("unparsable page %s: %s", response.url, exc)
            return None, None, [], []
        return selector, rel_canonical, links, next_pages

    def _page_items(
        self, response: TextResponse, selector: Selector | None, canonical: str, outlinks: list[list[str]]
    ) -> Iterator[Any]:
        """The page's items: one per channel post or forum post, else the whole page as one."""
        # A Telegram channel preview (t.me/s/..., a mirror, an embed): one item per post, as the
        # telegram spider makes them, never the whole page as one.
        channel_posts = parse_preview(selector) if selector is not None and has_preview_markup(response.body) else []
        posts = extract_posts(selector) if selector is not None and not channel_posts else []
        if channel_posts:
            for channel_post in channel_posts:
                if self.limit_reached:
                    break
                yield self.telegram_item(response, channel_post)
        elif posts:
            for post in posts:
                if self.limit_reached:
                    break
                yield self._forum_post_item(response, post, canonical, outlinks)
        else:
            # The byte scan first: a page without images never runs the image selectors.
            images = image_refs(selector, response.url) if selector is not None and has_images(response.body) else None
            yield self.new_item(
                response,
                url=response.url,
                canonical_url=canonical,
                body=response.body,
                outlinks=outlinks,
                media_urls=images,
            )

    def _forum_post_item(
        self, response: TextResponse, post: ForumPost, canonical: str, outlinks: list[list[str]]
    ) -> ContentItem:
        return self.new_item(
            response,
            url=f"{response.url.split('#', 1)[0]}#post-{post.post_id}",
            canonical_url=f"{canonical}#post-{post.post_id}",
            post_id=post.post_id,
            author=post.author,
            published_at=post.published_at,
            text=post.text,
            title=None,
            outlinks=outlinks,
            extra={"forum_layout": post.rule, "page_url": canonical},
            media_urls=resolve_refs(list(post.images), response.url, 32) if post.images else None,
        )

    def _follow(self, response: TextResponse, depth: int, next_pages: list[str], links: list[str]) -> Iterator[Any]:
        """Requests for the page's next pages (same depth) and, above the depth limit, its links."""
        for href in next_pages:
            url = urljoin(response.url, href)
            if self._same_site(url):
                yield self.request(url, self.parse, meta={"saqshy_depth": depth})
        if depth >= self.max_depth:
            return
        for url in links:
            if self._same_site(url) or self.follow_external:
                yield self.request(url, self.parse, meta={"saqshy_depth": depth + 1})
