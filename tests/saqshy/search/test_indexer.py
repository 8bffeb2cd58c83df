"""The factory and the indexer on each SQL engine we ship, through the platform context."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from saqshy.context import Context
from saqshy.db.session import session_scope
from saqshy.search import build_search_engine, index_in_store
from saqshy.search.base import SearchQuery, fold_text, query_terms
from saqshy.search.elastic import ElasticsearchEngine, index_body
from saqshy.search.indexer import drain_outbox, index_pending, pending_count, rebuild_index, reindex
from saqshy.search.sqlite_fts import SqliteFtsEngine
from saqshy.services.items import ingest_items, mark_for_reindex
from saqshy.settings import Settings
from tests.factories import item_data


def test_factory_picks_the_adapter(settings: Settings, tmp_path: Path) -> None:
    sqlite = create_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    fts = build_search_engine(settings, sqlite)
    assert isinstance(fts, SqliteFtsEngine) and fts.engine is sqlite and not fts.owns_engine

    es = build_search_engine(settings.model_copy(update={"elasticsearch_url": "http://127.0.0.1:9"}), sqlite)
    assert isinstance(es, ElasticsearchEngine) and es.index == settings.elasticsearch_index
    es.close()

    # PostgreSQL store without Elasticsearch: an embedded index in its own file under var/.
    postgres = create_engine("postgresql+psycopg://u:p@127.0.0.1:1/db")
    side = build_search_engine(settings, postgres)
    assert isinstance(side, SqliteFtsEngine) and side.owns_engine
    assert side.engine.url.database == str(settings.var_dir / "search-index.sqlite3")
    side.close()


def test_context_indexes_and_reindexes(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        created = [r.item_id for r in ingest_items(session, [item_data(language="kk") for _ in range(7)], ctx.settings)]
    # The embedded index is in the store's database: new items are searchable at once.
    assert ctx.search.search(SearchQuery(text="ұсынысы")).total == 7
    with session_scope(ctx.sessions) as session:
        mark_for_reindex(session, created)
    report = index_pending(ctx)
    assert (report.rows_done, report.upserted) == (7, 7)
    assert ctx.search.search(SearchQuery(text="ұсынысы")).total == 7
    seen: list[tuple[int, int]] = []
    assert reindex(ctx, progress=lambda done, total: seen.append((done, total))).indexed == 7
    assert seen[-1] == (7, 7)
    assert ctx.search.indexed_ids() == set(created)


def test_drain_and_rebuild_on_each_sql_engine(
    sql_engine: Engine, sessions: sessionmaker[Session], settings: Settings
) -> None:
    search = build_search_engine(settings, sql_engine)
    with session_scope(sessions) as session:
        created = [r.item_id for r in ingest_items(session, [item_data(language="ru") for _ in range(30)], settings)]
    if index_in_store(settings, sql_engine):
        # Indexed in the items' transaction; queue them again to exercise the drain.
        assert pending_count(sessions) == 0 and search.indexed_ids() == set(created)
        with session_scope(sessions) as session:
            mark_for_reindex(session, created)
    report = drain_outbox(sessions, search, batch_size=7)
    assert (report.batches, report.rows_done) == (5, 30)
    assert pending_count(sessions) == 0
    assert search.indexed_ids() == set(created)
    assert rebuild_index(sessions, search, batch_size=8).indexed == 30
    assert search.search(SearchQuery(text="закладки", limit=50)).total == 30
    search.close()


def test_folding_and_terms() -> None:
    assert fold_text("Ёлка ёж") == "Елка еж"
    assert fold_text("и\u0306") == "й"  # NFC: a decomposed й is the letter й
    assert query_terms('"ҚАЗАҚ" AND (үй) -іс* snake_case') == ["ҚАЗАҚ", "AND", "үй", "іс", "snake", "case"]


def test_language_analyzers_are_opt_in() -> None:
    plain = index_body(language_analyzers=False)["mappings"]["properties"]["text"]
    assert plain == {"type": "text", "analyzer": "saqshy_text"}
    rich = index_body(language_analyzers=True)["mappings"]["properties"]["text"]
    assert rich["fields"]["ru"]["analyzer"] == "russian" and rich["fields"]["en"]["analyzer"] == "english"


def test_drain_job_runs_on_the_job_queue(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        created = [r.item_id for r in ingest_items(session, [item_data(language="en") for _ in range(5)], ctx.settings)]
    key = ctx.jobs.enqueue("search.drain_outbox", {})
    assert ctx.jobs.wait_idle(timeout=30)
    info = ctx.jobs.get(key)
    assert info is not None and info.status.value == "succeeded", info
    assert ctx.search.indexed_ids() == set(created)
    assert pending_count(ctx.sessions) == 0
