"""Extraction helpers: charset, canonical URL, language, text, binaries, near-duplicates."""

from __future__ import annotations

import pytest
from parsel import Selector

from crawlers.extraction.binary import is_binary
from crawlers.extraction.canonical import canonical_url, host_of, page_canonical_url
from crawlers.extraction.charset import decode_html
from crawlers.extraction.forum import extract_posts
from crawlers.extraction.language import detect_language
from crawlers.extraction.page import extract_page
from crawlers.extraction.telegram import channel_from_url, parse_preview, parse_views
from crawlers.spiders.site import rel_links
from saqshy.errors import InvalidInput
from saqshy.services.sources import parse_interval
from saqshy.simhash import NearDupIndex, hamming, simhash, to_signed, to_unsigned
from tests.crawlers.fixture_site import AD_TEXT, EN_TEXT, FORUM, KK_TEXT, RU_TEXT, html_page, telegram_preview

RU_PAGE = html_page("Заголовок", f"<p>{RU_TEXT}</p>", charset=None)


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("cp1251", "text/html"),  # no declaration at all
        ("cp1251", "text/html; charset=windows-1251"),
        ("koi8_r", "text/html; charset=koi8-r"),
        ("koi8_r", None),
        ("cp1251", "text/html; charset=utf-8"),  # declared wrong
        ("cp1251", "text/html; charset=koi8-r"),  # the classic mix-up
        ("koi8_r", "text/html; charset=windows-1251"),
        ("cp1251", "text/html; charset=iso-8859-1"),  # a server default label
        ("utf-8", "text/html; charset=windows-1251"),
    ],
)
def test_cyrillic_pages_decode_whatever_they_declare(encoding: str, content_type: str | None) -> None:
    text, _ = decode_html(RU_PAGE.encode(encoding), content_type)
    assert RU_TEXT in text
    assert "Заголовок" in text


def test_meta_charset_and_bom() -> None:
    page = html_page("Заголовок", f"<p>{RU_TEXT}</p>", charset="koi8-r").encode("koi8_r")
    assert RU_TEXT in decode_html(page, None)[0]
    assert decode_html("Привет".encode("utf-8-sig"), None)[0] == "Привет"
    assert decode_html(b"", None) == ("", "ascii")
    assert decode_html(bytes(range(256)), "text/html")[0]  # garbage decodes, never raises


def test_canonical_url_strips_tracking_and_fragments() -> None:
    url = "HTTP://Example.COM:80/a/b?utm_source=x&b=2&fbclid=y&a=1&utm_medium=m#section"
    assert canonical_url(url) == "http://example.com/a/b?a=1&b=2"
    assert canonical_url("https://example.com:443") == "https://example.com/"
    assert canonical_url("https://example.com/p?ref=home") == "https://example.com/p?ref=home"


def test_rel_canonical_only_within_the_site() -> None:
    assert page_canonical_url("https://a.kz/x?utm_source=1", "/y") == "https://a.kz/y"
    assert page_canonical_url("https://www.a.kz/x", "https://a.kz/y") == "https://a.kz/y"
    # Another site's URL as canonical would let a page overwrite that site's item.
    assert page_canonical_url("https://evil.kz/x", "https://a.kz/y") == "https://evil.kz/x"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (RU_TEXT, "ru"),
        (KK_TEXT, "kk"),
        (EN_TEXT, "en"),
        ("Жаңа жұмыс ұсынысы: күніне елу мың теңге, тәжірибе қажет емес", "kk"),
        ("Продаю закладки, пишите в личку, доставка по Алматы", "ru"),
        ("Сьогодні гарна погода, ми підемо гуляти і зустрінемося з друзями", "other"),
        ("Heute ist das Wetter schön und wir gehen mit Freunden spazieren", "other"),
        ("12345 !!! ???", "other"),
        ("", "other"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_main_text_drops_navigation_and_footer() -> None:
    fields = extract_page(RU_PAGE.encode("cp1251"), "http://x.kz/", "text/html", 200_000, 1_000)
    assert fields["title"] == "Заголовок"
    assert RU_TEXT in fields["text"]
    assert "All rights reserved" not in fields["text"]
    assert fields["language"] == "ru"
    assert fields["encoding"] == "cp1251"


def test_hostile_markup_never_raises() -> None:
    for body in (b"", b"<html", b"\x00\x01\x02", b"<p>" * 10_000, "<title>т</title>".encode("koi8_r")):
        fields = extract_page(body, "http://x.kz/", None, 1_000, 100)
        assert isinstance(fields["text"], str)
    long_text = extract_page(("<p>" + "слово " * 5000 + "</p>").encode(), "http://x.kz/", None, 1_000, 100)
    assert len(long_text["text"]) == 1_000 and long_text["truncated"]


def test_binary_detection() -> None:
    assert is_binary("application/pdf", b"%PDF-1.4")
    assert is_binary("text/html", b"\x89PNG\r\n")  # mislabelled image
    assert is_binary(None, b"PK\x03\x04zip")
    assert not is_binary("text/html; charset=utf-8", b"<html>")
    assert not is_binary("application/rss+xml", b"<rss>")


def test_near_duplicates_cluster_and_unrelated_do_not() -> None:
    one, two = simhash(AD_TEXT.format(contact="@a1")), simhash(AD_TEXT.format(contact="@b2 срочно"))
    other = simhash(RU_TEXT)
    assert one is not None and two is not None and other is not None
    assert hamming(one, two) <= 8 < hamming(one, other)
    assert to_unsigned(to_signed(one)) == one
    index = NearDupIndex(max_distance=8)
    index.add(1, one, 1)
    index.add(2, other, 2)
    match = index.nearest(two)
    assert match is not None and match.cluster_id == 1
    assert index.nearest(simhash("совсем другой текст про погоду и футбол в выходные") or 0) is None
    assert simhash("") is None


def test_telegram_preview_parsing() -> None:
    posts = parse_preview(Selector(text=telegram_preview("chan", 12, None)))
    assert [p.post_id for p in posts] == [8, 9, 10, 11, 12]
    post = posts[-1]
    assert post.channel == "chan" and post.permalink == "https://t.me/chan/12"
    assert post.published_at is not None and post.published_at.year == 2026
    assert post.views == 12_200
    assert post.author == "Fixture Channel"
    assert posts[-2].author == "Author 2"  # a signed post
    assert "https://t.me/other_channel_0" in post.links
    assert parse_views("1.2M") == 1_200_000 and parse_views("987") == 987 and parse_views("n/a") is None
    assert channel_from_url("@durov") == channel_from_url("https://t.me/s/durov?before=5") == "durov"


def test_forum_posts_with_authors() -> None:
    page = Selector(text=FORUM.format(t1="first post text", t2="second post text", t3="third"))
    posts = extract_posts(page)
    assert [(p.post_id, p.author, p.text) for p in posts] == [
        ("101", "alice", "first post text"),
        ("102", "bob", "second post text"),
        ("103", "carol", "third"),
    ]
    assert posts[0].published_at is not None and posts[0].rule == "phpbb"
    assert extract_posts(Selector(text=html_page("Plain", "<p>no posts</p>"))) == []


def test_intervals() -> None:
    assert parse_interval("6h") == 21600 and parse_interval("30m") == 1800 and parse_interval("1d") == 86400
    with pytest.raises(InvalidInput):
        parse_interval("soon")
    with pytest.raises(InvalidInput):
        parse_interval("5s")


def test_rel_links_in_one_pass() -> None:
    page = Selector(
        text='<html><head><link rel="alternate" href="/feed"><link rel="Canonical" href="/wrong">'
        '<link rel="canonical" href="/a?x=1"><link rel="canonical" href="/b"><link rel="next" href="/p2"></head>'
        '<body><a rel="nofollow next" href="/p3">more</a><a rel="next">no href</a><a href="/p4">4</a></body></html>'
    )
    assert rel_links(page.root) == ("/a?x=1", ["/p2", "/p3"])
    assert rel_links(Selector(text="<p>nothing</p>").root) == (None, [])


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://WWW.Example.kz:8080/a?b#c", "example.kz"),
        ("https://user:pw@sub.example.kz/", "sub.example.kz"),
        ("http://[::1]:8000/x", "::1"),
        ("http://a.kz?x=/y", "a.kz"),
        ("mailto:someone@a.kz", ""),
        ("//cdn.a.kz/x.js", "cdn.a.kz"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host
