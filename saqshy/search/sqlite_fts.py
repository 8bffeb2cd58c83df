"""The embedded search adapter: an SQLite FTS5 index, by default in the store's own database.

Two tables: ``search_fts`` (FTS5, rowid = item id, columns title and body) holds the text, and
``search_docs`` (rowid = item id) holds the filter fields with ordinary indexes, so a filter-only
query never scans the full-text index. Both are derived data, created here on first use (not by
Alembic: PostgreSQL has no FTS5) and rebuilt by ``reindex``. When they live in the store's own
database, ``ingest_items`` writes new items' documents through ``write`` in the items' transaction.

Tokenizer: ``unicode61 remove_diacritics 0``. unicode61 folds case for every Cyrillic letter,
Kazakh ones included (Қ/қ, Ң/ң, Ө/ө, Ү/ү, Ұ/ұ, І/і, Ә/ә, Ғ/ғ, Һ/һ have no decomposition, so no
diacritics option touches them). ``remove_diacritics`` 1 or 2 would also fold й into и and ё into
е: the first merges two Russian letters, the second ``fold_text`` already does for both adapters,
and Elasticsearch's bare distribution has no filter to remove diacritics, so 0 keeps the two
adapters answering alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from saqshy.db.session import READ_ONLY
from saqshy.search.base import (
    ELLIPSIS,
    MARK_END,
    MARK_START,
    BulkOutcome,
    SearchDocument,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    fold_text,
    render_highlight,
)

TOKENIZER = "unicode61 remove_diacritics 0"
# Weights of the FTS columns in bm25 (title, body): a word in the title counts double.
BM25_WEIGHTS = (2.0, 1.0)
SNIPPET_TOKENS = 32


def _utc_text(value: datetime | None) -> str | None:
    """A fixed-width UTC ISO string: sorts and compares as text exactly like the instants."""
    if value is None:
        return None
    # isoformat, not strftime: several times faster, and zero-pads every year to four digits.
    # The first 26 characters are the date and time, without the "+00:00" of an aware value.
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat("T", "microseconds")[:26]


class SqliteFtsEngine(SearchEngine):
    name = "sqlite-fts5"

    def __init__(self, engine: Engine, *, prefix: str = "search", owns_engine: bool = False) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError(f"SqliteFtsEngine needs an SQLite engine, got {engine.dialect.name}")
        if not prefix.isidentifier():
            raise ValueError(f"invalid table prefix {prefix!r}")
        self.engine = engine
        # True when the index lives in its own file (the store is PostgreSQL): close() disposes it.
        self.owns_engine = owns_engine
        self.fts_table = f"{prefix}_fts"
        self.docs_table = f"{prefix}_docs"
        self._ready = False

    # -- schema

    def _ddl(self) -> list[str]:
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.docs_table} (
                item_id INTEGER PRIMARY KEY,
                url TEXT NOT NULL,
                language TEXT NOT NULL,
                source_id INTEGER,
                fetched_at TEXT NOT NULL,
                published_at TEXT,
                score REAL,
                top_category TEXT,
                model_version TEXT,
                categories TEXT NOT NULL DEFAULT '[]',
                task_status TEXT
            )""",
            # One index: filter-only listings walk it newest first and test the other fields
            # row by row, which is fast at embedded scale and keeps bulk indexing cheap.
            f"CREATE INDEX IF NOT EXISTS ix_{self.docs_table}_fetched ON {self.docs_table} (fetched_at)",
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.fts_table} USING fts5(title, body, tokenize = '{TOKENIZER}')",
        ]

    def ensure_index(self) -> None:
        if self._ready:
            return
        with self.engine.begin() as conn:
            for statement in self._ddl():
                conn.exec_driver_sql(statement)
        self._ready = True

    def reset_index(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.fts_table}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.docs_table}")
            for statement in self._ddl():
                conn.exec_driver_sql(statement)
        self._ready = True

    # -- writes

    def index_documents(self, documents: Sequence[SearchDocument]) -> BulkOutcome:
        if not documents:
            return BulkOutcome()
        self.ensure_index()
        try:
            with self.engine.begin() as conn:
                written = self.write(conn, documents)
        except OperationalError as exc:  # locked past busy_timeout, disk full, …
            raise SearchUnavailable(f"SQLite search index not writable: {exc.orig}") from exc
        return BulkOutcome(acknowledged=written)

    def write(self, conn: Connection, documents: Sequence[SearchDocument]) -> list[int]:
        """Insert or replace documents inside the caller's transaction on ``conn``; returns their ids.

        The store's own ingest calls this in the items' transaction when the index lives in the
        store's database (``saqshy.search.index_in_store``): the items and their documents then
        commit, or roll back, together. Creates the tables first if they do not exist yet.
        """
        if not documents:
            return []
        self._ensure_in(conn)
        # One row per item even when a batch repeats an id: the last version wins.
        latest = {doc.item_id: doc for doc in documents}
        docs_rows = [
            (
                d.item_id,
                d.url,
                d.language,
                d.source_id,
                _utc_text(d.fetched_at),
                _utc_text(d.published_at),
                d.score,
                d.top_category,
                d.model_version,
                json.dumps(d.categories) if d.categories else "[]",
                d.task_status,
            )
            for d in latest.values()
        ]
        fts_rows = [(d.item_id, fold_text(d.title), fold_text(d.text)) for d in latest.values()]
        # Only documents already indexed need their old tokens removed; on a bulk load that is
        # none, and FTS5 deletes cost time even for a missing rowid.
        known = self._known_ids(conn, list(latest))
        if known:
            conn.exec_driver_sql(f"DELETE FROM {self.fts_table} WHERE rowid = ?", [(i,) for i in known])
        conn.exec_driver_sql(f"INSERT INTO {self.fts_table} (rowid, title, body) VALUES (?, ?, ?)", fts_rows)
        conn.exec_driver_sql(
            f"INSERT OR REPLACE INTO {self.docs_table} (item_id, url, language, source_id, "
            "fetched_at, published_at, score, top_category, model_version, categories, "
            "task_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            docs_rows,
        )
        return list(latest)

    def write_new_items(self, conn: Connection, documents: Sequence[SearchDocument]) -> list[int]:
        """``write`` for the documents of items just inserted into the store's ``content_items``
        table, in this same database and in the caller's transaction on ``conn``.

        The filter row of each is copied by SQL itself (``INSERT … SELECT`` from the item's row:
        no per-row parameters to bind, a third of ``write``'s cost for that table), so the
        documents must be the items' rows as written (a new item: no score, no review task). The
        text still goes through ``fold_text`` in Python: SQLite's ``replace`` costs more than
        binding the folded text, and it has no NFC.
        """
        if not documents:
            return []
        self._ensure_in(conn)
        latest = {doc.item_id: doc for doc in documents}
        ids = list(latest)
        known = self._known_ids(conn, ids)
        if known:
            conn.exec_driver_sql(f"DELETE FROM {self.fts_table} WHERE rowid = ?", [(i,) for i in known])
        conn.exec_driver_sql(
            f"INSERT INTO {self.fts_table} (rowid, title, body) VALUES (?, ?, ?)",
            [(d.item_id, fold_text(d.title), fold_text(d.text)) for d in latest.values()],
        )
        # The store keeps UTC as "YYYY-MM-DD HH:MM:SS.ffffff", the index as _utc_text's "…T…".
        utc_text = "substr({0}, 1, 10) || 'T' || substr({0}, 12)"
        conn.exec_driver_sql(
            f"INSERT OR REPLACE INTO {self.docs_table} (item_id, url, language, source_id, fetched_at, "
            "published_at, score, top_category, model_version, categories, task_status) "
            f"SELECT id, url, language, source_id, {utc_text.format('fetched_at')}, "
            f"{utc_text.format('published_at')}, NULL, NULL, NULL, '[]', NULL "
            "FROM content_items WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        return ids

    def _ensure_in(self, conn: Connection) -> None:
        if (
            not self._ready
            and conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = ?", (self.fts_table,)).first() is None
        ):
            for statement in self._ddl():
                conn.exec_driver_sql(statement)

    def _known_ids(self, conn: Connection, item_ids: list[int]) -> list[int]:
        found: list[int] = []
        # Chunks stay under SQLite's limit on bound parameters.
        for start in range(0, len(item_ids), 10_000):
            chunk = item_ids[start : start + 10_000]
            marks = ", ".join("?" * len(chunk))
            found.extend(
                conn.exec_driver_sql(
                    f"SELECT item_id FROM {self.docs_table} WHERE item_id IN ({marks})", tuple(chunk)
                ).scalars()
            )
        return found

    def delete_documents(self, item_ids: Sequence[int]) -> BulkOutcome:
        if not item_ids:
            return BulkOutcome()
        self.ensure_index()
        ids = [(i,) for i in dict.fromkeys(item_ids)]
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM {self.fts_table} WHERE rowid = ?", ids)
                conn.exec_driver_sql(f"DELETE FROM {self.docs_table} WHERE item_id = ?", ids)
        except OperationalError as exc:
            raise SearchUnavailable(f"SQLite search index not writable: {exc.orig}") from exc
        return BulkOutcome(acknowledged=[i for (i,) in ids])

    # -- reads

    def _filters(self, query: SearchQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if query.language is not None:
            where.append("d.language = ?")
            params.append(query.language)
        if query.source_id is not None:
            where.append("d.source_id = ?")
            params.append(query.source_id)
        if query.category is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(d.categories) WHERE json_each.value = ?)")
            params.append(query.category)
        if query.task_status is not None:
            where.append("d.task_status = ?")
            params.append(query.task_status.value)
        if query.min_score is not None:
            where.append("d.score >= ?")
            params.append(query.min_score)
        if query.fetched_from is not None:
            where.append("d.fetched_at >= ?")
            params.append(_utc_text(query.fetched_from))
        if query.fetched_to is not None:
            where.append("d.fetched_at < ?")
            params.append(_utc_text(query.fetched_to))
        return where, params

    def search(self, query: SearchQuery) -> SearchResult:
        self.ensure_index()
        where, params = self._filters(query)
        if query.text is not None and query.text.strip():
            terms = query.terms
            if not terms:
                return SearchResult(total=0, hits=[])
            # Every word quoted: user input never reaches FTS5's query syntax.
            match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
            conditions = " AND ".join([f"{self.fts_table} MATCH ?", *where])
            source = f"{self.fts_table} JOIN {self.docs_table} d ON d.item_id = {self.fts_table}.rowid"
            with self.engine.connect().execution_options(**READ_ONLY) as conn:
                total = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {source} WHERE {conditions}", (match, *params)
                ).scalar_one()
                rows = conn.exec_driver_sql(
                    f"SELECT d.item_id, bm25({self.fts_table}, ?, ?) AS rank, "
                    f"highlight({self.fts_table}, 0, ?, ?), "
                    f"snippet({self.fts_table}, 1, ?, ?, ?, ?) "
                    f"FROM {source} WHERE {conditions} ORDER BY rank, d.item_id LIMIT ? OFFSET ?",
                    (
                        *BM25_WEIGHTS,
                        MARK_START,
                        MARK_END,
                        MARK_START,
                        MARK_END,
                        ELLIPSIS,
                        SNIPPET_TOKENS,
                        match,
                        *params,
                        query.limit,
                        query.offset,
                    ),
                ).all()
            hits = []
            for item_id, rank, title, body in rows:
                highlights: dict[str, list[str]] = {}
                if title and MARK_START in title:
                    highlights["title"] = [render_highlight(title)]
                if body and MARK_START in body:
                    highlights["text"] = [render_highlight(body)]
                # bm25() is lower-is-better; relevance is higher-is-better like Elasticsearch's.
                hits.append(SearchHit(item_id=item_id, relevance=-float(rank), highlights=highlights))
            return SearchResult(total=total, hits=hits)

        conditions = " AND ".join(where) or "1"
        with self.engine.connect().execution_options(**READ_ONLY) as conn:
            total = conn.exec_driver_sql(
                f"SELECT count(*) FROM {self.docs_table} d WHERE {conditions}", tuple(params)
            ).scalar_one()
            ids = conn.exec_driver_sql(
                f"SELECT d.item_id FROM {self.docs_table} d WHERE {conditions} "
                "ORDER BY d.fetched_at DESC, d.item_id DESC LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset),
            ).scalars()
            hits = [SearchHit(item_id=item_id, relevance=0.0) for item_id in ids]
        return SearchResult(total=total, hits=hits)

    def count(self) -> int:
        self.ensure_index()
        with self.engine.connect().execution_options(**READ_ONLY) as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {self.docs_table}").scalar_one())

    def indexed_ids(self) -> set[int]:
        self.ensure_index()
        with self.engine.connect().execution_options(**READ_ONLY) as conn:
            return set(conn.exec_driver_sql(f"SELECT item_id FROM {self.docs_table}").scalars())

    def ping(self) -> bool:
        try:
            with self.engine.connect().execution_options(**READ_ONLY) as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except OperationalError:
            return False

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()
