"""The FTS5 adapter's tables: new items' text read from content_items, kept right by triggers,
an old layout converted in place, and the index detached while migrations run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, text

from saqshy.db.migrate import alembic_config, upgrade
from saqshy.db.models import ContentItem, OutboxOp, ReviewTask, SearchOutbox, TaskStatus, Verdict
from saqshy.db.session import make_engine, session_scope
from saqshy.search.base import SearchDocument, SearchQuery
from saqshy.search.indexer import drain_outbox, rebuild_index
from saqshy.search.sqlite_fts import TOKENIZER, SqliteFtsEngine
from saqshy.services.items import ingest_items
from saqshy.settings import Settings
from tests.factories import item_data
from tests.saqshy.search.conftest import Store


@pytest.fixture
def fts(store: Store) -> Iterator[SqliteFtsEngine]:
    engine = SqliteFtsEngine(store.engine)
    engine.ensure_index()
    yield engine
    engine.close()


def ingest(store: Store, items: Sequence[dict[str, Any]]) -> list[int]:
    with session_scope(store.sessions) as session:
        return [r.item_id for r in ingest_items(session, list(items), store.settings)]


def stored_text(engine: Engine, item_id: int) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT title, body FROM search_docs WHERE item_id = :id"), {"id": item_id}).one()
    return row[0], row[1]


def check_index(engine: Engine) -> None:
    """FTS5's own check, including that the index matches the text it reads (rank 1)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)")


def highlights(fts: SqliteFtsEngine, words: str) -> list[dict[str, list[str]]]:
    return [hit.highlights for hit in fts.search(SearchQuery(text=words)).hits]


def test_new_items_text_is_read_from_the_store(store: Store, fts: SqliteFtsEngine) -> None:
    (item_id,) = ingest(store, [item_data(title="Ёлочные игрушки", text="Продаю ёлочные игрушки недорого")])
    assert stored_text(store.engine, item_id) == (None, None)  # not a second copy
    check_index(store.engine)
    # Folded as fold_text folds them, whichever letter the query uses.
    assert highlights(fts, "елочные") == highlights(fts, "ёлочные")
    assert highlights(fts, "игрушки") == [
        {"title": ["Елочные <mark>игрушки</mark>"], "text": ["Продаю елочные <mark>игрушки</mark> недорого"]}
    ]


def test_text_that_is_not_nfc_is_stored_folded(store: Store, fts: SqliteFtsEngine) -> None:
    decomposed = "и\u0306од"  # й as и + combining breve: fold_text composes it, SQL could not
    (item_id,) = ingest(store, [item_data(title=None, text=f"Купить {decomposed} в аптеке")])
    assert stored_text(store.engine, item_id) == ("", "Купить йод в аптеке")
    check_index(store.engine)
    assert highlights(fts, "йод") == [{"text": ["Купить <mark>йод</mark> в аптеке"]}]


def test_an_update_in_place_keeps_the_index_right(store: Store, fts: SqliteFtsEngine) -> None:
    data = item_data(title="старый заголовок", text="старый текст про закладки")
    (item_id,) = ingest(store, [data])
    (same,) = ingest(store, [{**data, "title": "новый заголовок", "text": "новый текст про мошенников"}])
    assert same == item_id
    # The trigger kept what the index holds until the outbox drain replaces the document.
    assert stored_text(store.engine, item_id) == ("старый заголовок", "старый текст про закладки")
    check_index(store.engine)
    assert [hit.item_id for hit in fts.search(SearchQuery(text="закладки")).hits] == [item_id]
    drain_outbox(store.sessions, fts)
    check_index(store.engine)
    assert fts.search(SearchQuery(text="закладки")).total == 0
    assert fts.search(SearchQuery(text="старый")).total == 0
    assert highlights(fts, "мошенников") == [
        {"text": ["новый текст про <mark>мошенников</mark>"]},
    ]
    assert fts.count() == 1


def test_deleting_an_item_keeps_the_index_right(store: Store, fts: SqliteFtsEngine) -> None:
    gone, kept = ingest(store, [item_data(text="удалить закладки"), item_data(text="оставить закладки")])
    with session_scope(store.sessions) as session:
        session.execute(delete(ContentItem).where(ContentItem.id == gone))
        session.execute(insert(SearchOutbox), [{"item_id": gone, "op": OutboxOp.DELETE}])
    check_index(store.engine)
    drain_outbox(store.sessions, fts)
    check_index(store.engine)
    assert [hit.item_id for hit in fts.search(SearchQuery(text="закладки")).hits] == [kept]
    # A new item may take the deleted one's id: it does not inherit its words.
    (new,) = ingest(store, [item_data(text="новый документ")])
    check_index(store.engine)
    assert fts.search(SearchQuery(text="удалить")).total == 0
    assert [hit.item_id for hit in fts.search(SearchQuery(text="документ")).hits] == [new]


def test_reindex_and_a_stale_document(store: Store, fts: SqliteFtsEngine) -> None:
    created = ingest(store, [item_data(text=f"хабар {n}") for n in range(5)])
    fts.index_documents([SearchDocument(10**9, "https://stale.test/", "ru", "", "ескі хабар", created_at())])
    rebuild_index(store.sessions, fts, batch_size=2)
    check_index(store.engine)
    assert fts.indexed_ids() == set(created)
    assert fts.search(SearchQuery(text="хабар")).total == 5
    more = ingest(store, [item_data(text="хабар тағы")])
    check_index(store.engine)
    assert fts.search(SearchQuery(text="хабар")).total == 6 and more[0] in fts.indexed_ids()


def created_at() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def old_layout(engine: Engine, rows: list[tuple[int, str, str]]) -> None:
    """The tables as the adapter created them before external content."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE search_docs (item_id INTEGER PRIMARY KEY, url TEXT NOT NULL, language TEXT NOT NULL, "
            "source_id INTEGER, fetched_at TEXT NOT NULL, published_at TEXT, score REAL, top_category TEXT, "
            "model_version TEXT, categories TEXT NOT NULL DEFAULT '[]', task_status TEXT)"
        )
        conn.exec_driver_sql("CREATE INDEX ix_search_docs_fetched ON search_docs (fetched_at)")
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE search_fts USING fts5(title, body, tokenize = '{TOKENIZER}')")
        for item_id, title, body in rows:
            conn.exec_driver_sql(
                "INSERT INTO search_docs (item_id, url, language, fetched_at) VALUES (?, ?, 'ru', ?)",
                (item_id, f"https://old.test/{item_id}", f"2026-01-01T00:00:{item_id % 60:02d}.000000"),
            )
            conn.exec_driver_sql("INSERT INTO search_fts (rowid, title, body) VALUES (?, ?, ?)", (item_id, title, body))


def test_an_old_layout_is_converted_in_place(store: Store) -> None:
    old_layout(store.engine, [(101, "Старый индекс", "закладки в старом индексе"), (102, "", "другой текст")])
    fts = SqliteFtsEngine(store.engine)
    assert highlights(fts, "закладки") == [{"text": ["<mark>закладки</mark> в старом индексе"]}]
    check_index(store.engine)
    assert fts.count() == 2 and fts.search(SearchQuery(text="текст")).total == 1
    assert [hit.item_id for hit in fts.search(SearchQuery()).hits] == [102, 101]
    # And it takes new items as usual, then updates of the old documents.
    (new,) = ingest(store, [item_data(text="новые закладки")])
    assert {hit.item_id for hit in fts.search(SearchQuery(text="закладки")).hits} == {101, new}
    fts.index_documents([SearchDocument(101, "https://old.test/101", "ru", "", "переписан", created_at())])
    check_index(store.engine)
    assert [hit.item_id for hit in fts.search(SearchQuery(text="закладки")).hits] == [new]


def test_an_index_without_decisions_gets_them_from_the_review_tasks(store: Store) -> None:
    decided, undecided = ingest(store, [item_data(text="закладки один"), item_data(text="закладки два")])
    with session_scope(store.sessions) as session:
        session.add_all([ReviewTask(item_id=decided, status=TaskStatus.DECIDED, decision=Verdict.LEGAL),
                         ReviewTask(item_id=undecided, status=TaskStatus.OPEN)])
    SqliteFtsEngine(store.engine).ensure_index()
    with store.engine.begin() as conn:  # the column as an index made before it lacks it
        conn.exec_driver_sql("ALTER TABLE search_docs DROP COLUMN decision")
    fts = SqliteFtsEngine(store.engine)
    assert [hit.item_id for hit in fts.search(SearchQuery(decision=Verdict.LEGAL)).hits] == [decided]
    assert fts.search(SearchQuery(text="закладки")).total == 2
    check_index(store.engine)


def test_migrations_run_with_the_index_detached(store: Store, fts: SqliteFtsEngine) -> None:
    created = ingest(store, [item_data(title=None, text=f"закладки {n}") for n in range(3)])
    upgrade(store.engine)  # nothing to do: the index stays attached
    assert stored_text(store.engine, created[0]) == (None, None)
    # Batch migrations rebuild tables, and SQLite then checks every view and trigger.
    command.downgrade(alembic_config(store.engine), "-1")
    with store.engine.connect() as conn:
        assert not conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").all()
    upgrade(store.engine)
    assert stored_text(store.engine, created[0]) == ("", "закладки 0")
    check_index(store.engine)
    assert fts.search(SearchQuery(text="закладки")).total == 3
    # The next new items attach the index to the store again.
    (new,) = ingest(store, [item_data(text="закладки снова")])
    assert stored_text(store.engine, new) == (None, None)
    check_index(store.engine)
    assert fts.search(SearchQuery(text="закладки")).total == 4


def test_a_detached_index_lets_content_items_be_rebuilt(store: Store, fts: SqliteFtsEngine) -> None:
    ingest(store, [item_data(text="закладки")])
    with store.engine.begin() as conn:
        fts.detach_from_store(conn)
        # What an Alembic batch operation does to alter a table on SQLite.
        conn.exec_driver_sql("CREATE TABLE _tmp_content_items AS SELECT * FROM content_items")
        conn.exec_driver_sql("DROP TABLE content_items")
        conn.exec_driver_sql("ALTER TABLE _tmp_content_items RENAME TO content_items")
    check_index(store.engine)
    assert fts.search(SearchQuery(text="закладки")).total == 1


def test_an_index_in_its_own_file(tmp_path: Path, settings: Settings) -> None:
    engine = make_engine(settings, url=f"sqlite:///{tmp_path / 'index.sqlite3'}")
    fts = SqliteFtsEngine(engine, owns_engine=True)
    docs = [
        SearchDocument(1, "https://a.test/", "ru", "Ёлка", "ёлочные закладки", created_at()),
        SearchDocument(2, "https://b.test/", "kk", "", "жаңа хабар", created_at()),
    ]
    fts.index_documents(docs)
    check_index(engine)
    assert highlights(fts, "елочные") == [{"text": ["<mark>елочные</mark> закладки"]}]
    fts.index_documents([SearchDocument(1, "https://a.test/", "ru", "", "иной текст", created_at())])
    fts.delete_documents([2])
    check_index(engine)
    assert fts.search(SearchQuery(text="закладки")).total == 0 and fts.indexed_ids() == {1}
    fts.close()


@pytest.mark.parametrize("left", ["search_docs", "search_fts"])
def test_half_an_old_layout_is_converted(store: Store, left: str) -> None:
    old_layout(store.engine, [(101, "", "закладки")])
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {'search_fts' if left == 'search_docs' else 'search_docs'}")
    fts = SqliteFtsEngine(store.engine)
    fts.ensure_index()
    check_index(store.engine)
    (new,) = ingest(store, [item_data(text="новые закладки")])
    fts.index_documents([SearchDocument(7, "https://a.test/", "ru", "", "ещё закладки", created_at())])
    check_index(store.engine)
    found = {hit.item_id for hit in fts.search(SearchQuery(text="закладки")).hits}
    # Only a document with both its filter row and its text was searchable before: none here.
    assert found == {new, 7}
