"""End-to-end crawls of the fixture site, served by a real HTTP server on 127.0.0.1.

One crawl of every source kind runs once for the module (a crawl is a child process: Twisted's
reactor starts once per process); the tests then check what it stored, fetched and counted.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from crawlers.evidence import read_response
from crawlers.export import export_items
from crawlers.runner import CrawlTarget, read_back_note, run_crawl
from saqshy.context import build_context
from saqshy.db.models import ContentItem, JobRecord, Source, SourceLink
from saqshy.db.session import session_scope
from saqshy.services.sources import add_source
from saqshy.settings import Settings
from tests.crawlers.conftest import FAST, Crawled, SourceSpec, crawl
from tests.crawlers.fixture_site import EN_TEXT, KK_TEXT, RU_TEXT, FixtureSite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crawled(site: FixtureSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    sources: list[SourceSpec] = [
        ("/", "site", {"depth": 1, "name": "fixture"}),
        ("/s/chan", "telegram", {"name": "channel", "read_back": "all"}),
        ("/feed.rss", "feed", {"name": "rss"}),
        ("/feed.atom", "feed", {"name": "atom"}),
    ]
    with crawl(site, tmp_path_factory.mktemp("crawl") / "var", sources, timeout_seconds=3.0) as crawled:
        yield crawled


def test_robots_disallowed_pages_are_never_requested(crawled: Crawled) -> None:
    assert "/private/secret" not in crawled.requests
    assert crawled.source("fixture").counters["robots_forbidden"] == 1


def test_sitemap_only_pages_are_found(crawled: Crawled, site: FixtureSite) -> None:
    item = crawled.item("/sitemap-only", site.root)
    assert item.title == "Only in the sitemap" and item.language == "ru"


def test_pagination_followed_beyond_the_depth_limit(crawled: Crawled, site: FixtureSite) -> None:
    for page in (1, 2, 3):
        assert crawled.requests.get(f"/list?page={page}") == 1
    assert "/deep" not in crawled.requests  # depth 2 from the start page; the source's depth is 1


def test_cyrillic_charsets_decoded(crawled: Crawled, site: FixtureSite) -> None:
    for path, title in (
        ("/cp1251", "Кириллица windows-1251"),
        ("/koi8", "Кириллица KOI8-R"),
        ("/wrong-charset", "Неверная кодировка"),
    ):
        item = crawled.item(path, site.root)
        assert item.title == title
        assert RU_TEXT[:60] in item.text
        assert item.language == "ru"
    assert crawled.item("/kk", site.root).language == "kk"
    assert crawled.item("/page1", site.root).language == "en"


def test_canonical_duplicates_collapse(crawled: Crawled, site: FixtureSite) -> None:
    assert crawled.requests.get("/dup-b") == 1
    item = crawled.item("/dup-a", site.root)  # utm_* stripped, /dup-b's rel=canonical honoured
    assert not [i for i in crawled.items() if "dup-b" in i.canonical_url]
    assert item.fetch_count >= 1


def test_binaries_recorded_by_hash_only(crawled: Crawled, site: FixtureSite) -> None:
    item = crawled.item("/doc.pdf", site.root)
    assert item.is_binary and item.text == "" and item.evidence_path is None
    assert item.sha256 == hashlib.sha256(b"%PDF-1.4\n" + bytes(range(256)) * 20).hexdigest()
    jobs = _score_job_ids(crawled)
    assert item.id not in jobs


def test_bad_input_is_counted_and_the_crawl_goes_on(crawled: Crawled, site: FixtureSite) -> None:
    counters = crawled.source("fixture").counters
    assert crawled.source("fixture").finish_reason == "finished"
    assert counters["errors/http_4xx"] == 1  # /missing
    assert counters["errors/http_5xx"] == 1  # /error
    assert counters["errors/redirect_loop"] == 1  # /loop/a -> /loop/b -> /loop/a
    assert counters["errors/empty_body"] == 1  # /empty
    assert counters["errors/too_large"] == 1  # /big, 20 MB over the 10 MB cap
    assert counters["errors/timeout"] == 1  # /slow
    assert counters["errors"] == 6
    malformed = crawled.item("/malformed", site.root)
    assert EN_TEXT[:40] in malformed.text
    for path in ("/missing", "/error", "/empty", "/big", "/slow"):
        assert not [i for i in crawled.items() if i.canonical_url == site.root + path]


def test_external_domains_recorded_not_followed(crawled: Crawled) -> None:
    assert not any(path.startswith("http") for path in crawled.requests)
    with session_scope(crawled.ctx.sessions) as session:
        fixture_id = session.scalar(select(Source.id).where(Source.name == "fixture"))
        links = {
            (link.target, str(link.target_kind))
            for link in session.scalars(select(SourceLink))
            if link.source_id == fixture_id
        }
    assert links == {("external.test", "site"), ("t.me/some_channel", "telegram")}


def test_telegram_posts_are_separate_items(crawled: Crawled) -> None:
    posts = [i for i in crawled.items() if i.canonical_url.startswith("https://t.me/chan/")]
    assert sorted(int(p.post_id or 0) for p in posts) == list(range(1, 13))  # 3 pages through ?before=
    by_id = {int(p.post_id or 0): p for p in posts}
    assert by_id[12].published_at is not None and by_id[12].published_at.day == 1 + 12 % 27
    assert by_id[11].author == "Author 2" and by_id[12].author == "Fixture Channel"
    assert by_id[12].extra["views"] == 12_200
    assert by_id[12].text.startswith("Пост номер 12.")
    with session_scope(crawled.ctx.sessions) as session:
        targets = {link.target for link in session.scalars(select(SourceLink))}
    assert {"t.me/other_channel_0", "t.me/other_channel_1", "news.example.org"} <= targets


def test_forum_posts_are_separate_items_with_authors(crawled: Crawled, site: FixtureSite) -> None:
    posts = {i.post_id: i for i in crawled.items() if "/forum/topic1#post-" in i.canonical_url}
    assert {k: v.author for k, v in posts.items()} == {"101": "alice", "102": "bob", "103": "carol"}
    # The same ad with another contact is a near-duplicate: one cluster, decided once.
    assert posts["101"].cluster_id == posts["102"].cluster_id != posts["103"].cluster_id


def test_feeds(crawled: Crawled, site: FixtureSite) -> None:
    one = crawled.item("/news/1", site.root)
    assert one.title == "RSS one" and one.language == "en" and one.post_id == "news-1"
    assert one.published_at is not None and one.published_at.day == 5
    atom = crawled.item("/atom/1", site.root)
    assert atom.author == "Atom Author" and atom.language == "kk" and KK_TEXT[:40] in atom.text


def test_warc_evidence_matches_the_items(crawled: Crawled) -> None:
    items = [i for i in crawled.items() if not i.is_binary]
    assert items
    for item in items:
        assert item.evidence_path and Path(item.evidence_path).is_file()
        assert item.evidence_offset is not None
        stored = read_response(item.evidence_path, item.evidence_offset)
        assert hashlib.sha256(stored.body).hexdigest() == item.sha256 == stored.recorded_sha256
        assert stored.server_ip == item.server_ip == "127.0.0.1"
        assert stored.status == 200


def _score_job_ids(crawled: Crawled) -> set[int]:
    with session_scope(crawled.ctx.sessions) as session:
        jobs = list(session.scalars(select(JobRecord).where(JobRecord.name == "score_items")))
    return {item_id for job in jobs for item_id in job.args["item_ids"]}


def test_new_items_are_queued_for_scoring(crawled: Crawled) -> None:
    text_items = {i.id for i in crawled.items() if i.text and not i.is_binary}
    assert _score_job_ids(crawled) == text_items
    total = crawled.summary.total("items/new")
    assert total == len(crawled.items())


def test_export_json_lines(crawled: Crawled) -> None:
    out = io.StringIO()
    with session_scope(crawled.ctx.sessions) as session:
        count = export_items(session, out, source="channel")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 12
    assert {
        "id",
        "url",
        "canonical_url",
        "source",
        "post_id",
        "author",
        "published_at",
        "fetched_at",
        "language",
        "title",
        "text",
        "sha256",
        "cluster_id",
    } <= set(lines[0])
    assert all(line["source"] == "channel" for line in lines)


def test_recrawl_updates_in_place(crawled: Crawled, site: FixtureSite) -> None:
    """Runs last in this module: the feed's second entry is edited, then the feed recrawled."""
    before = {i.canonical_url: i for i in crawled.items(source_id=_source_id(crawled, "rss"))}
    jobs_before = _score_job_ids(crawled)
    original = site.routes["/feed.rss"]
    status, headers, body = original  # type: ignore[misc]
    site.routes["/feed.rss"] = (status, headers, body.replace(RU_TEXT.encode(), (RU_TEXT + " Обновлено.").encode()))
    try:
        summary = run_crawl(crawled.settings, ["rss"], overrides=FAST, timeout=120)
    finally:
        site.routes["/feed.rss"] = original
    counters = summary.sources[0].counters
    assert (counters["items/new"], counters["items/changed"], counters["items/unchanged"]) == (0, 1, 1)
    after = {i.canonical_url: i for i in crawled.items(source_id=_source_id(crawled, "rss"))}
    assert after.keys() == before.keys()
    assert all(after[k].fetch_count == before[k].fetch_count + 1 for k in after)
    changed = after[site.root + "/news/2"]
    assert changed.text_changed_count == 1 and changed.text.endswith("Обновлено.")
    assert after[site.root + "/news/1"].text_changed_count == 0
    # Only the changed item goes back to the classifier.
    assert changed.id in jobs_before
    with session_scope(crawled.ctx.sessions) as session:
        latest = session.scalars(select(JobRecord).order_by(JobRecord.id.desc()).limit(1)).one()
    assert latest.args["item_ids"] == [changed.id]


def _source_id(crawled: Crawled, name: str) -> int:
    with session_scope(crawled.ctx.sessions) as session:
        source_id = session.scalar(select(Source.id).where(Source.name == name))
    assert source_id is not None
    return source_id


def test_channel_preview_markup_on_a_site_and_an_empty_read_back_window(
    site: FixtureSite, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None, var_dir=tmp_path / "var", redis_url=None, database_url=None, crawler_timeout_seconds=3.0,
        crawler_allowed_networks="127.0.0.0/8",
    )
    ctx = build_context(settings)
    policy = settings.address_policy
    with session_scope(ctx.sessions) as session:
        # A site source that meets a channel preview (a mirror, an embed) splits it into posts.
        add_source(session, site.root + "/s/sitechan", "site", policy=policy, depth=0, name="preview-site")
        # Every post of the channel is older than this window: the summary says why nothing is new.
        add_source(session, site.root + "/s/oldchan", "telegram", policy=policy, name="old", read_back="2026-11-30")
    summary = run_crawl(settings, ["preview-site", "old"], overrides=FAST, timeout=120)
    try:
        with session_scope(ctx.sessions) as session:
            site_id = session.scalar(select(Source.id).where(Source.name == "preview-site"))
            items = list(session.scalars(select(ContentItem).where(ContentItem.source_id == site_id)))
        posts = [i for i in items if i.canonical_url.startswith("https://t.me/sitechan/")]
        assert sorted(int(p.post_id or 0) for p in posts) == [8, 9, 10, 11, 12]
        assert all(p.text.startswith(f"Пост номер {p.post_id}.") for p in posts)
        assert not [i for i in items if i.canonical_url.endswith("/s/sitechan")]  # never the whole page
        old = next(s for s in summary.sources if s.name == "old")
        assert old.counters["items/new"] == 0 and old.counters["telegram/too_old"] == 5
        assert old.note is not None and "all 5 post(s)" in old.note and "saqshy source read-back old" in old.note
        assert next(s for s in summary.sources if s.name == "preview-site").note is None
        # Old posts past new ones are the window at work: no note then.
        recent = CrawlTarget(1, "recent", "telegram", "https://t.me/s/x", 0, None, 3600, until=datetime.now(UTC))
        assert read_back_note(recent, {"telegram/too_old": 7, "items/unchanged": 3}) is None
    finally:
        ctx.close()
