"""Images of crawled items, end to end against a local HTTP server: found, fetched politely, kept
as WARC evidence, judged by their bytes, re-encoded into our own store, counted, never fatal.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from crawlers.evidence import read_response
from crawlers.extraction.media import has_images, image_refs, telegram_refs
from crawlers.media import judge_image
from crawlers.runner import run_crawl
from saqshy.context import build_context
from saqshy.db.models import Media, MediaStatus
from saqshy.db.session import session_scope
from saqshy.services.media import read_thumbnail, thumbnail_path
from saqshy.services.sources import add_source
from saqshy.settings import Settings
from tests.crawlers.conftest import FAST, Crawled, SourceSpec, crawl
from tests.crawlers.fixture_site import EN_TEXT, RU_TEXT, FixtureSite, Page, _ok, html_page, paragraphs, serve
from tests.crawlers.media_fixtures import HTML_AS_IMAGE, SVG_WITH_SCRIPT, jpeg_with_exif, png, png_bomb

RED = png((220, 20, 20), secret="Photographer: Jane Roe")
BLUE = png((20, 20, 220), size=(30, 30))
OG = jpeg_with_exif()
SRCSET = png((20, 200, 20), size=(20, 20))
HUGE = b"\xff\xd8\xff\xe0" + b"\x00" * (20 * 1024 * 1024)  # 20 MB "JPEG", over the 5 MB cap
TELEGRAM_PHOTO = png((250, 200, 0), size=(50, 40))


def media_routes(root: str) -> dict[str, Page]:
    gallery = html_page(
        "Gallery",
        paragraphs(EN_TEXT)
        + '<img src="/img/red.png" alt="red">'
        + '<img srcset="/img/srcset.png 1x, /img/srcset-2x.png 2x">'
        + '<img src="/img/evil.svg"><img src="/img/bomb.png"><img src="/img/fake.png">'
        + '<img src="/private/hidden.png"><img src="/img/huge.jpg">'
        + '<img src="/img/ninth.png">',  # the ninth reference: over the cap of 8, never fetched
        head='<meta property="og:image" content="/img/og.jpg">',
    )
    # The same image on another page: fetched once per crawl, stored once.
    # localhost is another host than 127.0.0.1: an image on a CDN, fetched unless offsite is off.
    offsite = root.replace("127.0.0.1", "localhost") + "/img/offsite.png"
    second = html_page(
        "Second",
        paragraphs(RU_TEXT) + f'<img src="/img/red.png"><img src="data:image/png;base64,AAAA"><img src="{offsite}">',
    )
    forum = (
        '<html><head><meta charset="utf-8"><title>Topic</title></head><body><div class="topic">'
        '<div id="p201" class="post"><div class="postbody"><p class="author">by <a class="username">dana</a></p>'
        f'<div class="content">{EN_TEXT}<img src="/img/blue.png"></div></div></div>'
        '<div id="p202" class="post"><div class="postbody"><p class="author">by <a class="username">eric</a></p>'
        f'<div class="content">{RU_TEXT}</div></div></div></div></body></html>'
    )
    telegram = (
        '<html><head><meta charset="utf-8"><title>Channel</title></head><body>'
        '<div class="tgme_channel_info_header_title"><span>Media Channel</span></div><section>'
        '<div class="tgme_widget_message" data-post="mediachan/7">'
        f'<a class="tgme_widget_message_photo_wrap" style="width:50px;background-image:url(\'{root}/img/tg.png\')"></a>'
        f'<div class="tgme_widget_message_text">Фото. {RU_TEXT}</div>'
        '<a class="tgme_widget_message_date" href="https://t.me/mediachan/7">'
        '<time datetime="2026-10-05T10:00:00+00:00">Oct 5</time></a></div></section></body></html>'
    )
    return {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"),
        "/": _ok(
            html_page(
                "Home",
                paragraphs(EN_TEXT) + '<a href="/gallery">g</a> <a href="/second">s</a> '
                '<a href="/plain">p</a> <a href="/forum">f</a>',
            )
        ),
        "/gallery": _ok(gallery),
        "/second": _ok(second),
        "/plain": _ok(html_page("Plain", paragraphs(EN_TEXT))),
        "/page1": _ok(html_page("Page one", paragraphs(EN_TEXT, 2))),  # in html_page's navigation
        "/about": _ok(html_page("About", paragraphs(RU_TEXT, 2))),
        "/forum": _ok(forum),
        "/s/mediachan": _ok(telegram),
        "/feed.rss": _ok(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
            f"<item><title>With a photo</title><link>{root}/news/9</link><guid>n9</guid>"
            f'<description>&lt;p&gt;{EN_TEXT}&lt;/p&gt;&lt;img src="/img/blue.png"&gt;</description></item>'
            "</channel></rss>",
            "application/rss+xml",
        ),
        "/img/red.png": (200, {"Content-Type": "image/png"}, RED),
        "/img/blue.png": (200, {"Content-Type": "image/png"}, BLUE),
        "/img/offsite.png": (200, {"Content-Type": "image/png"}, BLUE),
        "/img/og.jpg": (200, {"Content-Type": "image/jpeg"}, OG),
        "/img/srcset.png": (200, {"Content-Type": "image/png"}, SRCSET),
        "/img/tg.png": (200, {"Content-Type": "image/png"}, TELEGRAM_PHOTO),
        "/img/evil.svg": (200, {"Content-Type": "image/svg+xml"}, SVG_WITH_SCRIPT),
        "/img/bomb.png": (200, {"Content-Type": "image/png"}, png_bomb()),
        "/img/fake.png": (200, {"Content-Type": "image/png"}, HTML_AS_IMAGE),
        "/private/hidden.png": (200, {"Content-Type": "image/png"}, png()),
        "/img/huge.jpg": (200, {"Content-Type": "image/jpeg"}, HUGE),
        "/img/ninth.png": (200, {"Content-Type": "image/png"}, png()),
    }


@pytest.fixture(scope="module")
def media_site() -> Iterator[FixtureSite]:
    fixture, server = serve(media_routes)  # type: ignore[arg-type]
    yield fixture
    server.shutdown()


@pytest.fixture(scope="module")
def crawled(media_site: FixtureSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    sources: list[SourceSpec] = [
        ("/", "site", {"depth": 1, "name": "gallery-site"}),
        ("/s/mediachan", "telegram", {"name": "media-channel"}),
        ("/feed.rss", "feed", {"name": "media-feed"}),
    ]
    with crawl(media_site, tmp_path_factory.mktemp("media") / "var", sources, timeout_seconds=5.0) as crawled:
        yield crawled


pytestmark = pytest.mark.slow


def test_each_outcome_is_recorded_with_its_status(crawled: Crawled) -> None:
    rows = crawled.by_path("/gallery")
    assert [r.url.removeprefix(crawled.root) for r in crawled.media("/gallery")] == [
        "/img/og.jpg",
        "/img/red.png",
        "/img/srcset.png",
        "/img/evil.svg",
        "/img/bomb.png",
        "/img/fake.png",
        "/private/hidden.png",
        "/img/huge.jpg",
    ]  # og:image first, srcset's first candidate, capped at 8
    assert {path: row.status for path, row in rows.items()} == {
        "/img/og.jpg": MediaStatus.STORED,
        "/img/red.png": MediaStatus.STORED,
        "/img/srcset.png": MediaStatus.STORED,
        "/img/evil.svg": MediaStatus.SKIPPED_SVG,
        "/img/bomb.png": MediaStatus.BOMB,
        "/img/fake.png": MediaStatus.SKIPPED_TYPE,
        "/private/hidden.png": MediaStatus.ROBOTS,
        "/img/huge.jpg": MediaStatus.TOO_BIG,
    }
    assert rows["/img/fake.png"].sniffed_type == "text/html"  # the server said image/png
    assert rows["/img/red.png"].sniffed_type == "image/png" and (
        rows["/img/red.png"].width,
        rows["/img/red.png"].height,
    ) == (40, 30)
    assert not any(r.thumbnail_key for p, r in rows.items() if r.status is not MediaStatus.STORED)


def test_politeness_caps_and_dedup(crawled: Crawled) -> None:
    assert "/private/hidden.png" not in crawled.requests  # robots.txt obeyed for images too
    assert "/img/ninth.png" not in crawled.requests  # over the per-item cap
    assert crawled.requests["/img/red.png"] == 1  # on two pages, fetched once
    assert crawled.requests.get("/img/srcset-2x.png") is None
    second = crawled.by_path("/second")
    offsite = crawled.root.replace("127.0.0.1", "localhost") + "/img/offsite.png"
    assert list(second) == ["/img/red.png", offsite]  # the data: URI is not a fetch
    assert second[offsite].status is MediaStatus.STORED and crawled.requests["/img/offsite.png"] == 1
    gallery = crawled.by_path("/gallery")
    assert second["/img/red.png"].thumbnail_key == gallery["/img/red.png"].thumbnail_key


def test_a_page_without_images_has_no_media(crawled: Crawled) -> None:
    assert crawled.media("/plain") == []


def test_originals_are_in_the_warc_evidence(crawled: Crawled) -> None:
    for path, body in (("/img/red.png", RED), ("/img/evil.svg", SVG_WITH_SCRIPT), ("/img/fake.png", HTML_AS_IMAGE)):
        row = crawled.by_path("/gallery")[path]
        assert row.sha256 == hashlib.sha256(body).hexdigest() and row.size_bytes == len(body)
        assert row.evidence_path is not None and row.evidence_offset is not None
        stored = read_response(row.evidence_path, row.evidence_offset)
        assert stored.body == body and stored.url == crawled.root + path
        assert stored.recorded_sha256 == row.sha256 and stored.server_ip == "127.0.0.1"
    assert crawled.by_path("/gallery")["/img/huge.jpg"].evidence_path is None  # aborted, never read


def test_thumbnails_are_reencoded_bounded_and_stripped(crawled: Crawled) -> None:
    for path in ("/img/og.jpg", "/img/red.png"):
        row = crawled.by_path("/gallery")[path]
        assert row.thumbnail_key and row.thumbnail_type == "image/webp"
        data, content_type = read_thumbnail(crawled.settings.media_dir, row.thumbnail_key)
        assert content_type == "image/webp" and hashlib.sha256(data).hexdigest() == row.thumbnail_key[:64]
        assert thumbnail_path(crawled.settings.media_dir, row.thumbnail_key).is_file()
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "WEBP" and max(image.size) <= crawled.settings.media_thumbnail_px
            assert not image.info.get("exif") and not image.getexif()
        assert b"Jane Roe" not in data and b"43.238949" not in data and b"Camera Owner" not in data


def test_forum_posts_and_telegram_posts_carry_their_own_images(crawled: Crawled) -> None:
    assert list(crawled.by_path("/forum#post-201")) == ["/img/blue.png"]
    assert crawled.by_path("/forum#post-201")["/img/blue.png"].status is MediaStatus.STORED
    assert crawled.media("/forum#post-202") == []
    telegram = crawled.media("/mediachan/7")
    assert [(r.url, r.status) for r in telegram] == [(crawled.root + "/img/tg.png", MediaStatus.STORED)]
    feed_entry = crawled.media("/news/9")  # a feed entry's <img>, relative to the entry's link
    assert [(r.url, r.status) for r in feed_entry] == [(crawled.root + "/img/blue.png", MediaStatus.STORED)]


def test_the_summary_counts_media_and_items_never_fail(crawled: Crawled) -> None:
    site = next(s for s in crawled.summary.sources if s.name == "gallery-site")
    counters = site.counters
    assert site.finish_reason == "finished"
    assert counters["errors"] == 0  # image failures are media outcomes, not page errors
    assert counters["pages"] == 8  # 7 pages and sitemap.xml's 404: images are not pages
    assert counters["media/fetched"] == 8  # og, red, srcset, svg, bomb, fake, offsite, blue
    assert counters["media/stored"] == 5
    assert counters["media/skipped_svg"] == 1 and counters["media/skipped_type"] == 1
    assert counters["media/bomb"] == 1 and counters["media/too_big"] == 1 and counters["media/robots"] == 1
    assert counters["media/rows"] == 11  # 8 on the gallery, 2 on the second page, 1 in a forum post
    assert counters["items/new"] == 8  # 6 pages, two forum posts


def test_settings_turn_offsite_images_or_all_media_off(media_site: FixtureSite, tmp_path: Path) -> None:
    base = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=tmp_path / "var", redis_url=None, database_url=None,
        crawler_allowed_networks="127.0.0.0/8",
    )
    for name, update, expected in (
        ("same-host", {"crawler_media_offsite": False}, ["/img/red.png"]),
        ("no-media", {"crawler_media_enabled": False}, []),
    ):
        settings = base.model_copy(update={**update, "var_dir": tmp_path / name})
        ctx = build_context(settings)
        try:
            with session_scope(ctx.sessions) as session:
                policy = settings.address_policy
                add_source(session, media_site.root + "/second", "site", policy=policy, depth=0, name=name)
            run_crawl(settings, [name], overrides=FAST, timeout=120)
            with session_scope(ctx.sessions) as session:
                urls = session.scalars(select(Media.url).order_by(Media.position)).all()
        finally:
            ctx.close()
        assert [u.removeprefix(media_site.root) for u in urls] == expected


def test_reference_finding_is_cheap_to_rule_out() -> None:
    from parsel import Selector

    assert not has_images(html_page("x", paragraphs(EN_TEXT)).encode())
    page = Selector(
        text='<meta property="og:image" content="https://cdn.test/og.jpg#x"><img src="a.png"><img src="a.png">'
        '<img data-src="lazy.png"><picture><source srcset="p.webp 1x, p2.webp 2x"></picture>'
        '<img src="javascript:alert(1)"><img src="data:image/png;base64,AA">'
    )
    assert image_refs(page, "https://site.test/dir/page") == [
        "https://cdn.test/og.jpg",
        "https://site.test/dir/a.png",
        "https://site.test/dir/lazy.png",
        "https://site.test/dir/p.webp",
    ]
    post = Selector(
        text="<a class='tgme_widget_message_photo_wrap' style=\"background-image:url('https://cdn4.telesco.pe/file/x.jpg')\"></a>"
    )
    assert telegram_refs(post, "https://t.me/s/c") == ["https://cdn4.telesco.pe/file/x.jpg"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (png(), "image/png", MediaStatus.STORED),
        (png(), "text/html", MediaStatus.STORED),  # the bytes decide, not the header
        (SVG_WITH_SCRIPT, "image/png", MediaStatus.SKIPPED_SVG),
        (HTML_AS_IMAGE, "image/png", MediaStatus.SKIPPED_TYPE),
        (png_bomb(), "image/png", MediaStatus.BOMB),
        (png_bomb(8_000, 8_000), "image/png", MediaStatus.BOMB),  # under Pillow's guard, over ours
        (png()[:60], "image/png", MediaStatus.ERROR),  # truncated
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "image/x-eps", MediaStatus.SKIPPED_TYPE),  # never Ghostscript
    ],
)
def test_judge_image(body: bytes, content_type: str, status: MediaStatus) -> None:
    verdict = judge_image(body, content_type, max_pixels=40_000_000, max_side=128)
    assert verdict.status is status
    assert (verdict.thumbnail is not None) == (status is MediaStatus.STORED)


def test_unused_path_helpers(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        thumbnail_path(tmp_path, "../../etc/passwd")
