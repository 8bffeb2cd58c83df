"""Parse a public Telegram channel's web preview (``https://t.me/s/<channel>``).

Each ``.tgme_widget_message[data-post]`` is one post: ``data-post`` is ``channel/id``; the date
is the ``datetime`` of the post's date link; the author is the post's signature when the channel
signs posts, else the channel's name; views come as "1.2K". Older posts are on
``?before=<smallest id on this page>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import lxml.html
from parsel import Selector

from crawlers.extraction.media import TELEGRAM_IMAGE_CSS, style_urls
from crawlers.extraction.text import element_text

_VIEWS = re.compile(r"^([\d.,]+)\s*([KMB]?)$", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


@dataclass
class TelegramPost:
    channel: str
    post_id: int
    permalink: str
    published_at: datetime | None
    author: str | None
    text: str
    views: int | None
    links: list[str] = field(default_factory=list)
    forwarded_from: str | None = None
    # Photos, link-preview images and video covers (CSS backgrounds), absolute as Telegram writes them.
    images: list[str] = field(default_factory=list)


def parse_views(value: str | None) -> int | None:
    if not value:
        return None
    match = _VIEWS.match(value.strip())
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    return int(number * _MULTIPLIERS[match.group(2).upper()])


def has_preview_markup(body: bytes) -> bool:
    """A byte scan that rules out most pages before the post selectors run (the crawl's hot path)."""
    return b"tgme_widget_message" in body


def parse_preview(page: Selector, max_chars: int = 200_000) -> list[TelegramPost]:
    posts: list[TelegramPost] = []
    channel_name = page.css(".tgme_channel_info_header_title span::text, .tgme_channel_info_header_title::text").get()
    for node in page.css(".tgme_widget_message[data-post]"):
        data_post = node.attrib.get("data-post", "")
        channel, _, raw_id = data_post.rpartition("/")
        if not channel or not raw_id.isdigit():
            continue
        date_link = node.css("a.tgme_widget_message_date")
        stamp = date_link.css("time::attr(datetime)").get()
        try:
            published = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
        except ValueError:
            published = None
        text_node = node.css(".tgme_widget_message_text")
        text = element_text(lxml.html.fromstring(text_node[0].get()))[:max_chars] if text_node else ""
        author = (
            node.css(".tgme_widget_message_from_author::text").get()
            or node.css(".tgme_widget_message_owner_name span::text").get()
            or channel_name
        )
        links = node.css(
            ".tgme_widget_message_text a::attr(href), a.tgme_widget_message_link_preview::attr(href)"
        ).getall()
        forwarded = node.css("a.tgme_widget_message_forwarded_from_name::attr(href)").get()
        posts.append(
            TelegramPost(
                channel=channel,
                post_id=int(raw_id),
                permalink=f"https://t.me/{channel}/{raw_id}",
                published_at=published,
                author=author.strip()[:500] if author and author.strip() else None,
                text=text,
                views=parse_views(node.css(".tgme_widget_message_views::text").get()),
                links=links,
                forwarded_from=forwarded,
                images=style_urls(node.css(TELEGRAM_IMAGE_CSS).getall()),
            )
        )
    return posts


def channel_from_url(url: str) -> str | None:
    """``durov`` from ``https://t.me/s/durov``, ``https://t.me/durov``, ``@durov`` or ``durov``."""
    value = url.strip()
    if value.startswith("@"):
        return value[1:] or None
    if "/" not in value:
        return value or None
    path = re.sub(r"^[a-z]+://[^/]+", "", value).split("?", 1)[0]
    segments = [s for s in path.split("/") if s]
    if segments and segments[0] == "s":
        segments = segments[1:]
    return segments[0] if segments else None
