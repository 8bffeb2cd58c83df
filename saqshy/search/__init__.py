"""The search port and its adapters; ``build_search_engine`` picks one from the settings.

- ``SAQSHY_ELASTICSEARCH_URL`` set: Elasticsearch (``elastic.ElasticsearchEngine``).
- otherwise, SQLite store: FTS5 tables inside the store's own database (``sqlite_fts``).
- otherwise, PostgreSQL store without Elasticsearch: the same FTS5 adapter in its own SQLite
  file, ``<var_dir>/search-index.sqlite3``. The index is derived data (``saqshy reindex`` rebuilds
  it from PostgreSQL), so an embedded index beside a real store is safe for one host: a developer
  on a local PostgreSQL gets working search with no extra service. Every process on the host
  shares the file; processes on *other* hosts would each hold their own partial index, which is
  why a multi-host production setup sets ``SAQSHY_ELASTICSEARCH_URL`` (logged as a warning).
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from saqshy.search.base import (
    BulkOutcome,
    SearchDocument,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)
from saqshy.settings import Settings

__all__ = [
    "BulkOutcome",
    "SearchDocument",
    "SearchEngine",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "build_search_engine",
    "in_store_search_engine",
    "index_in_store",
]

logger = logging.getLogger(__name__)

SIDE_INDEX_FILE = "search-index.sqlite3"


def index_in_store(settings: Settings, engine: Engine) -> bool:
    """Whether the search index is the FTS5 index inside the store's own SQLite database.

    Then ``ingest_items`` writes a new item's document in the item's own transaction (atomic,
    nothing to catch up, no outbox round trip); every other change still goes through the outbox.
    """
    return not settings.elasticsearch_url and engine.dialect.name == "sqlite"


def in_store_search_engine(settings: Settings, engine: Engine) -> SearchEngine | None:
    """The search engine whose index is inside the store behind ``engine``, if it is there."""
    if not index_in_store(settings, engine):
        return None
    from saqshy.search.sqlite_fts import SqliteFtsEngine

    return SqliteFtsEngine(engine)


def build_search_engine(settings: Settings, engine: Engine) -> SearchEngine:
    if settings.elasticsearch_url:
        from saqshy.search.elastic import ElasticsearchEngine

        return ElasticsearchEngine.from_settings(settings)

    from saqshy.search.sqlite_fts import SqliteFtsEngine

    in_store = in_store_search_engine(settings, engine)
    if in_store is not None:
        return in_store

    from saqshy.db.session import make_engine

    path = settings.var_dir / SIDE_INDEX_FILE
    logger.warning(
        "store is %s but SAQSHY_ELASTICSEARCH_URL is not set: using an embedded FTS5 index in %s "
        "(fine for one host; set SAQSHY_ELASTICSEARCH_URL for production)",
        engine.dialect.name,
        path,
    )
    return SqliteFtsEngine(make_engine(settings, url=f"sqlite:///{path}"), owns_engine=True)
