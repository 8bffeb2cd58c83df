"""A generated site of many distinct articles, for crawls that must last while a fault is caused.

``/`` links to the list pages, each list page to its articles (depth 2 reaches every article).
Every article has text of its own (no near-duplicates to merge), and every page answers after
``delay`` seconds, so a crawl of a few requests in flight takes seconds, not milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tests.crawlers.fixture_site import Page, html_page

LISTS = 6
PER_LIST = 10
ARTICLES = [f"/story/{n}-{m}" for n in range(LISTS) for m in range(PER_LIST)]
WORDS = [
    "қала", "кеңес", "жоба", "көлік", "жол", "мектеп", "аурухана", "саябақ", "тұрғын", "бағдарлама",
    "город", "совет", "проект", "транспорт", "дорога", "школа", "больница", "парк", "житель", "программа",
    "city", "council", "project", "transport", "road", "school", "hospital", "park", "resident", "programme",
]


def article_text(path: str) -> str:
    rng = random.Random(path)
    return " ".join(". ".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(4)) for _ in range(3)) + "."


def many_pages(delay: float) -> Callable[[str], dict[str, Page | Callable[[], Page]]]:
    def routes(root: str) -> dict[str, Page | Callable[[], Page]]:
        pages: dict[str, str] = {
            "/robots.txt": "User-agent: *\nAllow: /\n",
            "/": html_page("Index", "".join(f'<p><a href="/list/{n}">List {n}</a></p>' for n in range(LISTS))),
            # The pages every page's navigation links to.
            "/page1": html_page("Page 1", f"<p>{article_text('/page1')}</p>"),
            "/about": html_page("About", f"<p>{article_text('/about')}</p>"),
        }
        for n in range(LISTS):
            links = "".join(f'<p><a href="/story/{n}-{m}">Story {n}-{m}</a></p>' for m in range(PER_LIST))
            pages[f"/list/{n}"] = html_page(f"List {n}", links)
        for path in ARTICLES:
            pages[path] = html_page(f"Story {path}", f"<p>{article_text(path)}</p>")

        def answer(markup: str, content_type: str) -> Callable[[], Page]:
            def page() -> Page:
                time.sleep(delay)
                return 200, {"Content-Type": content_type}, markup.encode("utf-8")

            return page

        return {
            path: answer(markup, "text/plain" if path == "/robots.txt" else "text/html; charset=utf-8")
            for path, markup in pages.items()
        }

    return routes
