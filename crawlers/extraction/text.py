"""Main text and title of an HTML page, navigation and boilerplate left out (trafilatura)."""

from __future__ import annotations

import html
import re
from copy import copy
from functools import lru_cache

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import Extractor

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TITLE_STR = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "form")


def clean_whitespace(text: str) -> str:
    text = _SPACES.sub(" ", text)
    lines = (line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_title(markup: str) -> str | None:
    match = _TITLE_STR.search(markup, 0, 200_000)
    if not match:
        return None
    title = clean_whitespace(html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))).replace("\n", " ")
    return title or None


def fragment_text(markup: str) -> str:
    """Visible text of an HTML fragment (a feed summary, a post body), line breaks kept."""
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_whitespace(html.unescape(re.sub(r"<[^>]+>", " ", markup)))
    return element_text(root)


def element_text(element: lxml.html.HtmlElement) -> str:
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for block in element.iter("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"):
        block.tail = "\n" + (block.tail or "")
    return clean_whitespace(element.text_content())


def _fallback_text(markup: str) -> str:
    try:
        root = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return ""
    for bad in root.iter(*_DROP_TAGS):
        bad.drop_tree()
    body = root.find("body")
    return element_text(body if body is not None else root)


@lru_cache(maxsize=1)
def _extractor() -> Extractor:
    # Built once: trafilatura's own Extractor(...) per call reads a dozen values out of its
    # ConfigParser, which cost as much as a quarter of the extraction of a small page.
    return Extractor(fast=True, comments=False, tables=True, dedup=False)


def main_text(markup: str, url: str | None = None) -> str:
    """trafilatura's main text; the page's visible text when trafilatura finds no main part."""
    if not markup.strip():
        return ""
    options = copy(_extractor())
    options.url = options.source = url
    try:
        text = trafilatura.extract(markup, options=options)
    except Exception:  # trafilatura on hostile markup: fall back, never crash the crawl
        text = None
    if not text or len(text) < 40:
        fallback = _fallback_text(markup)
        if len(fallback) > len(text or ""):
            return fallback
    return clean_whitespace(text or "")
