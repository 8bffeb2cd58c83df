"""Contract of the store of record, run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import ContentItem, SearchOutbox
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.search import index_in_store
from saqshy.search.base import SearchQuery
from saqshy.search.sqlite_fts import SqliteFtsEngine
from saqshy.services.items import ingest_item, ingest_items
from saqshy.settings import Settings
from tests.factories import item_data


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_ingest_creates_item_and_indexes_or_queues_it(sessions: sessionmaker[Session], settings: Settings) -> None:
    with session_scope(sessions) as session:
        result = ingest_item(session, item_data(language="kk"), settings)
    assert result.created and result.text_changed
    engine = sessions.kw["bind"]
    with session_scope(sessions) as session:
        item = session.get(ContentItem, result.item_id)
        assert item is not None
        assert item.language == "kk"
        assert "ұсынысы" in item.text
        assert len(item.sha256) == 64 and item.text_sha256 == item.sha256
        queued = session.scalar(select(SearchOutbox.item_id))
    if index_in_store(settings, engine):
        # The embedded index lives in the store's database: written in the item's transaction.
        assert queued is None
        assert SqliteFtsEngine(engine).search(SearchQuery(text="ұсынысы")).hits[0].item_id == result.item_id
    else:
        assert queued == result.item_id


def test_an_update_is_queued_for_the_index(sessions: sessionmaker[Session], settings: Settings) -> None:
    data = item_data()
    with session_scope(sessions) as session:
        first = ingest_item(session, data, settings)
        session.execute(delete(SearchOutbox))
    with session_scope(sessions) as session:
        ingest_item(session, {**data, "text": "новый текст"}, settings)
    with session_scope(sessions) as session:
        assert list(session.scalars(select(SearchOutbox.item_id))) == [first.item_id]


def test_a_failed_batch_leaves_no_document(sessions: sessionmaker[Session], settings: Settings) -> None:
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        ingest_items(session, [item_data(text="откат транзакции")], settings)
        raise RuntimeError("the caller fails before its commit")
    engine = sessions.kw["bind"]
    if index_in_store(settings, engine):
        assert SqliteFtsEngine(engine).count() == 0
    with session_scope(sessions) as session:
        assert count(session, ContentItem) == 0 and count(session, SearchOutbox) == 0


def test_duplicate_canonical_url_updates_in_place(sessions: sessionmaker[Session], settings: Settings) -> None:
    data = item_data()
    with session_scope(sessions) as session:
        first = ingest_item(session, data, settings)
    with session_scope(sessions) as session:
        same = ingest_item(session, {**data, "url": data["canonical_url"] + "?utm_medium=x"}, settings)
        changed = ingest_item(session, {**data, "text": "другой текст"}, settings)
    assert same.item_id == first.item_id and not same.created and not same.text_changed
    assert changed.item_id == first.item_id and changed.text_changed
    with session_scope(sessions) as session:
        assert count(session, ContentItem) == 1
        item = session.get(ContentItem, first.item_id)
        assert item is not None
        assert item.text == "другой текст"
        assert item.fetch_count == 3 and item.text_changed_count == 1


def test_same_canonical_url_twice_in_one_batch_is_one_row(sessions: sessionmaker[Session], settings: Settings) -> None:
    data = item_data()
    with session_scope(sessions) as session:
        results = ingest_items(session, [data, {**data, "text": "последняя версия"}], settings)
    assert len(results) == 1
    with session_scope(sessions) as session:
        assert count(session, ContentItem) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": ""}, "needs a URL"),
        ({"url": None}, "needs a URL"),
        ({"url": "javascript:alert(1)"}, "not an http"),
        ({"text": "x" * 300_000}, "over the limit"),
        ({"language": "de"}, "language must be one of"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"sha256": "not-a-hash"}, "sha256"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, overrides: dict[str, object], message: str
) -> None:
    good = item_data()
    with pytest.raises(InvalidInput, match=message), session_scope(sessions) as session:
        # A good item before the bad one in the same batch is not written either.
        ingest_items(session, [good, item_data(**overrides)], settings)
    with session_scope(sessions) as session:
        assert count(session, ContentItem) == 0
        assert count(session, SearchOutbox) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"source_id": -1.5}, "source_id"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"post_id": "p" * 201}, "post_id"),
        ({"extra": {1: "x"}}, "extra"),
        ({"fetched_at": "yesterday"}, "fetched_at"),
        ({"title": "t" * 100_000}, "title is"),
        ({"canonical_url": "ftp://a.test/"}, "not an http"),
        ({"url": "https://[::1"}, "url"),
    ],
)
def test_more_bad_fields_are_refused(
    sessions: sessionmaker[Session], settings: Settings, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message), session_scope(sessions) as session:
        ingest_items(session, [item_data(), item_data(**overrides)], settings)
    with session_scope(sessions) as session:
        assert count(session, ContentItem) == 0
