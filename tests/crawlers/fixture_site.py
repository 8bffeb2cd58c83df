"""A fixture website written for the crawler tests, served from 127.0.0.1 by a real HTTP server.

Every request path is recorded, so tests can assert what was (never) fetched.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Page = tuple[int, dict[str, str], bytes]

RU_TEXT = (
    "Городской совет Алматы утвердил новый план развития общественного транспорта. "
    "В ближайшие пять лет появятся новые автобусные маршруты и выделенные полосы. "
    "Жители смогут обсудить проект на публичных слушаниях в следующем месяце."
)
KK_TEXT = (
    "Алматы қалалық кеңесі қоғамдық көліктің жаңа даму жоспарын бекітті. "
    "Алдағы бес жылда жаңа автобус бағыттары мен бөлінген жолақтар пайда болады. "
    "Тұрғындар жобаны келесі айда қоғамдық тыңдауларда талқылай алады."
)
EN_TEXT = (
    "The city council approved a new public transport development plan. Over the next five "
    "years new bus routes and dedicated lanes will appear, and residents can discuss the project."
)
AD_TEXT = (
    "Продаю аккаунты и базы данных недорого, пишите в личку {contact} быстро и надежно "
    "гарантия качества скидки оптовикам доставка по всему Казахстану круглосуточно"
)


def html_page(title: str, body: str, head: str = "", charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title>{head}</head><body>"
        '<nav><a href="/">Home</a> | <a href="/page1">Page 1</a> | <a href="/about">About</a></nav>'
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>© Fixture site. All rights reserved. Contact us. Privacy policy.</footer></body></html>"
    )


def paragraphs(text: str, count: int = 3) -> str:
    return "".join(f"<p>{text}</p>" for _ in range(count))


def _ok(markup: str | bytes, content_type: str = "text/html; charset=utf-8") -> Page:
    body = markup.encode("utf-8") if isinstance(markup, str) else markup
    return 200, {"Content-Type": content_type}, body


def telegram_preview(channel: str, newest: int, before: int | None, per_page: int = 5) -> str:
    top = (before - 1) if before else newest
    posts = []
    for post_id in range(top, max(top - per_page, 0), -1):
        day = 1 + post_id % 27
        signature = f'<span class="tgme_widget_message_from_author">Author {post_id % 3}</span>' if post_id % 2 else ""
        posts.append(
            f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message" data-post="{channel}/{post_id}">'
            f'<div class="tgme_widget_message_text js-message_text">Пост номер {post_id}. {RU_TEXT} '
            f'<a href="https://t.me/other_channel_{post_id % 2}">канал</a> <a href="https://news.example.org/a">сайт</a></div>'
            '<div class="tgme_widget_message_footer">'
            f'<span class="tgme_widget_message_views">{post_id}.{post_id % 10}K</span>'
            f"{signature}"
            f'<a class="tgme_widget_message_date" href="https://t.me/{channel}/{post_id}">'
            f'<time datetime="2026-10-{day:02d}T10:00:00+00:00">Oct {day}</time></a></div></div></div>'
        )
    oldest = max(top - per_page + 1, 1)
    more = (
        f'<a class="tme_messages_more js-messages_more" data-before="{oldest}" href="/s/{channel}?before={oldest}"></a>'
        if oldest > 1
        else ""
    )
    return (
        '<html><head><meta charset="utf-8"><title>Channel</title></head><body>'
        '<div class="tgme_channel_info_header_title"><span>Fixture Channel</span></div>'
        f'<section class="tgme_channel_history">{more}{"".join(reversed(posts))}</section></body></html>'
    )


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Fixture RSS</title><link>{root}/</link><description>d</description>
<item><title>RSS one</title><link>{root}/news/1?utm_source=rss</link><guid>news-1</guid>
<author>editor@example.org (Editor One)</author><pubDate>Mon, 05 Oct 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;{en}&lt;/p&gt;</description></item>
<item><title>RSS two</title><link>{root}/news/2</link><guid>news-2</guid>
<pubDate>Tue, 06 Oct 2026 10:00:00 GMT</pubDate><description>{ru}</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Fixture Atom</title><id>urn:fixture</id>
<updated>2026-10-07T10:00:00Z</updated>
<entry><title>Atom one</title><link href="{root}/atom/1"/><id>urn:atom:1</id>
<updated>2026-10-07T10:00:00Z</updated><author><name>Atom Author</name></author>
<content type="html">&lt;p&gt;{kk}&lt;/p&gt;</content></entry>
</feed>"""

FORUM = """<html><head><meta charset="utf-8"><title>Topic</title></head><body>
<div class="topic">
<div id="p101" class="post"><div class="postbody"><p class="author">by <a class="username">alice</a>
<time datetime="2026-10-01T09:00:00+00:00">1 Oct</time></p><div class="content">{t1}</div></div></div>
<div id="p102" class="post"><div class="postbody"><p class="author">by <a class="username">bob</a></p>
<div class="content">{t2}</div></div></div>
<div id="p103" class="post"><div class="postbody"><p class="author">by <a class="username">carol</a></p>
<div class="content">{t3}</div></div></div>
</div></body></html>"""


@dataclass
class FixtureSite:
    routes: dict[str, Page | Callable[[], Page]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    root: str = ""

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.requests)


def build_routes(root: str) -> dict[str, Page | Callable[[], Page]]:
    links = [
        "/page1",
        "/private/secret",
        "/cp1251",
        "/koi8",
        "/wrong-charset",
        "/malformed",
        "/empty",
        "/big",
        "/loop/a",
        "/missing",
        "/error",
        "/slow",
        "/doc.pdf",
        "/dup-a?utm_source=newsletter&utm_medium=email",
        "/dup-b",
        "/kk",
        "/forum/topic1",
        "/list?page=1",
        "http://external.test/page",
        "https://t.me/some_channel",
    ]
    index = html_page("Fixture home", paragraphs(EN_TEXT) + "".join(f'<a href="{u}">{u}</a> ' for u in links))

    def slow() -> Page:
        time.sleep(6)
        return _ok(html_page("Slow", paragraphs(EN_TEXT)))

    routes: dict[str, Page | Callable[[], Page]] = {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"),
        "/sitemap.xml": _ok(
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{root}/sitemap-only</loc></url><url><loc>{root}/page1</loc></url></urlset>",
            "application/xml",
        ),
        "/": _ok(index),
        "/page1": _ok(html_page("Page one", paragraphs(EN_TEXT) + '<a href="/deep">deeper</a>')),
        "/deep": _ok(html_page("Deep", paragraphs(EN_TEXT))),
        "/about": _ok(html_page("About", paragraphs(EN_TEXT, 1))),
        "/private/secret": _ok(html_page("Secret", "never fetch me")),
        "/sitemap-only": _ok(html_page("Only in the sitemap", paragraphs(RU_TEXT))),
        "/cp1251": (
            200,
            {"Content-Type": "text/html"},
            html_page("Кириллица windows-1251", paragraphs(RU_TEXT), charset=None).encode("cp1251"),
        ),
        "/koi8": (
            200,
            {"Content-Type": "text/html; charset=koi8-r"},
            html_page("Кириллица KOI8-R", paragraphs(RU_TEXT), charset=None).encode("koi8_r"),
        ),
        "/wrong-charset": (
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            html_page("Неверная кодировка", paragraphs(RU_TEXT), charset="utf-8").encode("cp1251"),
        ),
        "/malformed": _ok(
            "<html><head><title>Broken</title><body><div><p>" + EN_TEXT + "<table><tr><td>cell<div></span>"
            "<p>unclosed <b>bold <i>italic</p></body"
        ),
        "/empty": (200, {"Content-Type": "text/html"}, b""),
        "/big": (200, {"Content-Type": "text/html"}, b"<html><body>" + b"x" * (20 * 1024 * 1024) + b"</body></html>"),
        "/loop/a": (302, {"Location": "/loop/b"}, b""),
        "/loop/b": (302, {"Location": "/loop/a"}, b""),
        "/missing": (404, {"Content-Type": "text/html"}, b"<html>not found</html>"),
        "/error": (500, {"Content-Type": "text/html"}, b"<html>server error</html>"),
        "/slow": slow,
        "/doc.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4\n" + bytes(range(256)) * 20),
        "/dup-a": _ok(html_page("Duplicate A", paragraphs(EN_TEXT, 2))),
        "/dup-b": _ok(
            html_page("Duplicate B", paragraphs(EN_TEXT, 2), head=f'<link rel="canonical" href="{root}/dup-a">')
        ),
        "/kk": _ok(html_page("Қазақша", paragraphs(KK_TEXT))),
        "/forum/topic1": _ok(
            FORUM.format(
                t1=AD_TEXT.format(contact="@seller_one"),
                t2=AD_TEXT.format(contact="@seller_two"),
                t3=RU_TEXT,
            )
        ),
        "/feed.rss": _ok(RSS.format(root=root, en=EN_TEXT, ru=RU_TEXT), "application/rss+xml"),
        "/feed.atom": _ok(ATOM.format(root=root, kk=KK_TEXT), "application/atom+xml"),
    }
    for n in (1, 2, 3):
        nxt = f'<link rel="next" href="/list?page={n + 1}">' if n < 3 else ""
        routes[f"/list?page={n}"] = _ok(html_page(f"List page {n}", paragraphs(f"{RU_TEXT} Страница {n}."), head=nxt))
    return routes


class _Handler(BaseHTTPRequestHandler):
    site: FixtureSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.site
        with site.lock:
            site.requests.append(self.path)
        path = self.path
        route = site.routes.get(path)
        if route is None and path.startswith("/s/"):
            channel, _, query = path[3:].partition("?")
            before = int(query.split("=", 1)[1]) if query.startswith("before=") else None
            route = _ok(telegram_preview(channel, 12, before))
        if route is None:
            route = site.routes.get(path.split("?", 1)[0])
        if route is None:
            route = (404, {"Content-Type": "text/html"}, b"<html>no such page</html>")
        status, headers, body = route() if callable(route) else route
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve(
    routes: Callable[[str], dict[str, Page | Callable[[], Page]]] = build_routes,
    address: tuple[str, int] = ("127.0.0.1", 0),
) -> tuple[FixtureSite, ThreadingHTTPServer]:
    site = FixtureSite()
    handler = type("Handler", (_Handler,), {"site": site})
    server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 256})
    server = server_class(address, handler)
    server.daemon_threads = True
    site.root = f"http://{address[0]}:{server.server_address[1]}"
    site.routes = routes(site.root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return site, server
