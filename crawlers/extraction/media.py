"""Image references in markup: ``<img src/srcset>``, ``og:image``, Telegram's photo backgrounds.

Used by the spiders, on the pages that ``has_images`` lets through; ``crawlers.media`` fetches,
keeps and re-encodes what is found here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from saqshy.services.media import storable_url

_META_CSS = "meta[property='og:image']::attr(content), meta[name='twitter:image']::attr(content)"
# Telegram's preview shows photos, link previews and video covers as CSS backgrounds.
TELEGRAM_IMAGE_CSS = (
    ".tgme_widget_message_photo_wrap::attr(style), .link_preview_image::attr(style), "
    ".link_preview_right_image::attr(style), .tgme_widget_message_video_thumb::attr(style)"
)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


def has_images(body: bytes) -> bool:
    """A byte scan that rules out most pages before any selector runs (the crawl's hot path)."""
    return b"<img" in body or b"<IMG" in body or b":image" in body  # og:image, twitter:image


def first_srcset(value: str) -> str:
    """``a.jpg 1x, b.jpg 2x`` → ``a.jpg``: the first candidate, usually the smallest; enough for a thumbnail."""
    return value.strip().split(",", 1)[0].strip().split(" ", 1)[0]


def resolve_refs(values: list[str], base_url: str, limit: int) -> list[str]:
    """Absolute http(s) URLs, fragments dropped, duplicates and ``data:`` URIs out, at most ``limit``."""
    found: dict[str, None] = {}
    for raw in values:
        value = raw.strip()
        if not value or value.lower().startswith(("data:", "blob:", "javascript:")):
            continue
        try:
            url = urljoin(base_url, value).split("#", 1)[0]
        except ValueError:
            continue
        if urlsplit(url).scheme in ("http", "https") and storable_url(url):
            found.setdefault(url, None)
            if len(found) >= limit:
                break
    return list(found)


def image_refs(selector: Selector, base_url: str, limit: int = 32) -> list[str]:
    """Image references of a page (or a part of one): its og:image first, then each ``<img>``."""
    values = selector.css(_META_CSS).getall()
    for node in selector.css("img, picture source"):
        attrs = node.attrib
        src = attrs.get("src") or attrs.get("data-src")
        if src:
            values.append(src)
        elif srcset := attrs.get("srcset") or attrs.get("data-srcset"):
            values.append(first_srcset(srcset))
    return resolve_refs(values, base_url, limit)


def fragment_image_refs(element: Any, base_url: str, limit: int = 32) -> list[str]:
    """Image references inside an lxml element (a forum post's body)."""
    values = [str(v) for v in element.xpath(".//img/@src | .//img/@data-src")]
    return resolve_refs(values, base_url, limit)


def style_urls(styles: list[str]) -> list[str]:
    return [match.group(1) for style in styles for match in _CSS_URL.finditer(style)]


def telegram_refs(selector: Selector, base_url: str, limit: int = 32) -> list[str]:
    """The photos of a Telegram preview post (CSS backgrounds, never ``<img>``)."""
    return resolve_refs(style_urls(selector.css(TELEGRAM_IMAGE_CSS).getall()), base_url, limit)
