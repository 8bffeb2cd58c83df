"""Sources: due selection, claiming, intervals, outlinks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crawlers.runner import targets_for
from crawlers.sources import add_source, mark_crawled, record_outlinks
from saqshy.context import Context
from saqshy.db.models import Source, SourceLink
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.netpolicy import AddressNotAllowed, AddressPolicy, CredentialsInUrl

PUBLIC = AddressPolicy()  # public addresses only: the default


def test_due_sources_are_claimed_once(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        add_source(session, "https://a.example.kz/", "site", policy=PUBLIC, every="1h")
        add_source(session, "@some_channel", "telegram", policy=PUBLIC, every="30m")
        disabled = add_source(session, "https://b.example.kz/", "site", policy=PUBLIC)
        disabled.enabled = False
    first = targets_for(ctx)
    assert sorted(t.name for t in first) == ["a.example.kz", "t.me/some_channel"]
    assert targets_for(ctx) == []  # a second crawl started meanwhile takes nothing
    assert [t.name for t in targets_for(ctx, ["b.example.kz"])] == ["b.example.kz"]  # by name: always


def test_mark_crawled_schedules_the_next_crawl(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source = add_source(session, "https://a.example.kz/", "site", policy=PUBLIC, every="2h")
        source_id = source.id
    with session_scope(ctx.sessions) as session:
        mark_crawled(session, source_id, ctx.settings)
    with session_scope(ctx.sessions) as session:
        stored = session.get(Source, source_id)
        assert stored is not None and stored.last_crawled_at and stored.next_crawl_at
        gap = (stored.next_crawl_at - stored.last_crawled_at).total_seconds()
        assert gap == 7200  # risk 0: the configured interval


def test_outlinks_accumulate_per_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source_id = add_source(session, "https://a.example.kz/", "site", policy=PUBLIC).id
        record_outlinks(session, source_id, Counter({("t.me/x", "telegram"): 2, ("b.kz", "site"): 1}))
    with session_scope(ctx.sessions) as session:
        record_outlinks(session, source_id, Counter({("t.me/x", "telegram"): 3}))
    with session_scope(ctx.sessions) as session:
        links = {link.target: link.seen_count for link in session.scalars(select(SourceLink))}
    assert links == {"t.me/x": 5, "b.kz": 1}


def test_telegram_read_back_is_kept_per_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        add_source(session, "@default_back", "telegram", policy=PUBLIC)
        add_source(session, "@two_days", "telegram", policy=PUBLIC, read_back="2d")
        add_source(session, "@since_date", "telegram", policy=PUBLIC, read_back="2026-01-31")
        add_source(session, "@everything", "telegram", policy=PUBLIC, read_back="all")
        add_source(session, "https://a.example.kz/", "site", policy=PUBLIC)
        with pytest.raises(InvalidInput):
            add_source(session, "@bad_back", "telegram", policy=PUBLIC, read_back="last tuesday")
        with pytest.raises(InvalidInput):
            add_source(session, "https://b.example.kz/", "site", policy=PUBLIC, read_back="2d")
    now = datetime.now(UTC)
    until = {t.name: t.until for t in targets_for(ctx)}
    assert abs((now - timedelta(days=90)) - until["t.me/default_back"]).total_seconds() < 60  # the default
    assert abs((now - timedelta(days=2)) - until["t.me/two_days"]).total_seconds() < 60
    assert until["t.me/since_date"] == datetime(2026, 1, 31, tzinfo=UTC)
    assert until["t.me/everything"] is None
    assert until["a.example.kz"] is None  # sites read no dates


def test_near_duplicate_index_sees_items_stored_by_another_process(ctx: Context) -> None:
    from types import SimpleNamespace

    from crawlers.dedup import NearDupIndex, simhash, to_signed
    from crawlers.pipelines import StorePipeline
    from saqshy.services.items import ingest_item

    ad = "Продам гараж в центре, недорого, звоните по номеру 8 777 123 45 67, спросить Асель"
    pipeline = SimpleNamespace(index=NearDupIndex(8), _index_seen_id=0)
    with session_scope(ctx.sessions) as session:
        StorePipeline._refresh_index(pipeline, session)  # type: ignore[arg-type]
    assert len(pipeline.index) == 0
    # Another crawler process stores the ad...
    with session_scope(ctx.sessions) as session:
        value = simhash(ad)
        assert value is not None
        stored = ingest_item(session, {"url": "https://a.kz/1", "text": ad, "simhash": to_signed(value)}, ctx.settings)
    # ...and this one finds it before clustering its own batch: the repost joins its cluster.
    with session_scope(ctx.sessions) as session:
        StorePipeline._refresh_index(pipeline, session)  # type: ignore[arg-type]
    repost = simhash(ad.replace("Асель", "Айгерим"))
    assert repost is not None
    match = pipeline.index.nearest(repost)
    assert match is not None and match.item_id == stored.item_id
    assert pipeline._index_seen_id == stored.item_id


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://10.0.0.1/",
        "http://localhost:8080/",
    ],
)
def test_a_source_at_a_private_address_is_refused(ctx: Context, url: str) -> None:
    with session_scope(ctx.sessions) as session, pytest.raises(AddressNotAllowed, match="not a public address"):
        add_source(session, url, "site", policy=PUBLIC)
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(Source)).all() == []


def test_allowed_networks_admit_a_private_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source = add_source(session, "http://10.1.2.3/wiki", "site", policy=AddressPolicy.of("10.1.0.0/16"))
        assert source.url == "http://10.1.2.3/wiki"


@pytest.mark.parametrize("url", ["https://editor:hunter2@news.example.kz/", "https://token@news.example.kz/feed"])
def test_credentials_in_a_source_url_are_refused_and_never_stored(ctx: Context, url: str) -> None:
    with session_scope(ctx.sessions) as session, pytest.raises(CredentialsInUrl) as refused:
        add_source(session, url, "feed", policy=PUBLIC)
    assert "hunter2" not in str(refused.value) and "token" not in str(refused.value)
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(Source)).all() == []
