"""The embedded search adapter: an SQLite FTS5 index, by default in the store's own database.

Tables, all derived data, created here on first use (not by Alembic: PostgreSQL has no FTS5) and
rebuilt by ``reindex``:

- ``search_docs`` (rowid = item id): the filter fields, with ordinary indexes so a filter-only
  query never scans the full-text index, and the folded text (``title``, ``body``) the index was
  built from, or NULL for both when that text is the item's own row in ``content_items``;
- ``search_content``: a view, the text of every document (``search_docs``' own, else the item's
  row folded by SQL: ``replace`` of ё and Ё, which is ``fold_text`` for NFC text);
- ``search_fts``: FTS5 (rowid = item id, columns title and body), an *external-content* table
  over ``search_content``: it holds the index only. A plain FTS5 table would store a second copy
  of every text: writing it took about 0.15 s of the 1.3 s a bulk ingest of 20,000 items took.

New items' documents are written by ``write_new_items`` in the items' transaction when the index
lives in the store's own database, with NULL text: their text is read from ``content_items`` and
never stored twice. FTS5 reads a document's text from the view to delete its old tokens and for
``highlight``/``snippet``, so that text must stay what was indexed: triggers on ``content_items``
(``search_pin_update``, ``search_pin_delete``) copy an item's old folded text into its
``search_docs`` row before the item's title or text changes or the item is deleted. Everything else
(``write``: updates, reindex, an index in its own file) stores the text in ``search_docs``.

Alembic rebuilds SQLite tables to alter them and SQLite then checks every view and trigger, so a
migration first calls ``detach_from_store``: every text copied into ``search_docs``, the view no
longer reads ``content_items``, no triggers; the next write of new items attaches them again. A
database with the old layout (a plain FTS5 table) is converted in place on first use.

Tokenizer: ``unicode61 remove_diacritics 0``. unicode61 folds case for every Cyrillic letter,
Kazakh ones included (Қ/қ, Ң/ң, Ө/ө, Ү/ү, Ұ/ұ, І/і, Ә/ә, Ғ/ғ, Һ/һ have no decomposition, so no
diacritics option touches them). ``remove_diacritics`` 1 or 2 would also fold й into и and ё into
е: the first merges two Russian letters, the second ``fold_text`` already does for both adapters,
and Elasticsearch's bare distribution has no filter to remove diacritics, so 0 keeps the two
adapters answering alike.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
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
    NewItem,
    SearchDocument,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    fold_text,
    render_highlight,
)
from saqshy.timeutil import as_utc

TOKENIZER = "unicode61 remove_diacritics 0"
# Weights of the FTS columns in bm25 (title, body): a word in the title counts double.
BM25_WEIGHTS = (2.0, 1.0)
SNIPPET_TOKENS = 32
STORE_TABLE = "content_items"


def _folded(row: str, column: str) -> str:
    """``fold_text`` in SQL of an item's column, for NFC text (SQLite has no NFC): ё and Ё
    replaced; a NULL title is the empty text the document has."""
    return f"replace(replace(coalesce({row}.{column}, ''), 'ё', 'е'), 'Ё', 'Е')"


def _fold_nfc(value: str) -> str | None:
    """``fold_text`` of an NFC string, which ``_folded`` computes alike in SQL; None if not NFC."""
    if not unicodedata.is_normalized("NFC", value):
        return None
    return value.replace("ё", "е").replace("Ё", "Е")


def _utc_text(value: datetime | None) -> str | None:
    """A fixed-width UTC ISO string: sorts and compares as text exactly like the instants."""
    if value is None:
        return None
    # isoformat, not strftime: several times faster, and zero-pads every year to four digits.
    # The first 26 characters are the date and time, without the "+00:00" of an aware value.
    if value.tzinfo is not UTC:
        value = as_utc(value)
    return value.isoformat("T", "microseconds")[:26]


def _as_is(value: Any) -> Any:
    return value


def _enum_value(value: Any) -> Any:
    return value.value


# Each filter of a SearchQuery: its field, its condition on the documents table, its bound value.
_FILTERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("language", "d.language = ?", _as_is),
    ("source_id", "d.source_id = ?", _as_is),
    ("category", "EXISTS (SELECT 1 FROM json_each(d.categories) WHERE json_each.value = ?)", _as_is),
    ("task_status", "d.task_status = ?", _enum_value),
    ("decision", "d.decision = ?", _enum_value),
    ("min_score", "d.score >= ?", _as_is),
    ("max_score", "d.score <= ?", _as_is),
    ("fetched_from", "d.fetched_at >= ?", _utc_text),
    ("fetched_to", "d.fetched_at < ?", _utc_text),
)


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
        self.content_view = f"{prefix}_content"
        self.pin_triggers = (f"{prefix}_pin_update", f"{prefix}_pin_delete")
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
                task_status TEXT,
                decision TEXT,
                title TEXT,
                body TEXT
            )""",
            # One index: filter-only listings walk it newest first and test the other fields
            # row by row, which is fast at embedded scale and keeps bulk indexing cheap.
            f"CREATE INDEX IF NOT EXISTS ix_{self.docs_table}_fetched ON {self.docs_table} (fetched_at)",
            self._view_ddl(attached=False),
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.fts_table} USING fts5(title, body, "
            f"content = '{self.content_view}', content_rowid = 'item_id', tokenize = '{TOKENIZER}')",
        ]

    def _view_ddl(self, *, attached: bool) -> str:
        if not attached:
            return (
                f"CREATE VIEW IF NOT EXISTS {self.content_view} AS SELECT item_id, title, body FROM {self.docs_table}"
            )
        # body IS NULL marks a document whose text is the item's row (both columns NULL).
        return (
            f"CREATE VIEW IF NOT EXISTS {self.content_view} AS SELECT d.item_id AS item_id, "
            f"CASE WHEN d.body IS NULL THEN {_folded('c', 'title')} ELSE d.title END AS title, "
            f"CASE WHEN d.body IS NULL THEN {_folded('c', 'text')} ELSE d.body END AS body "
            f"FROM {self.docs_table} d LEFT JOIN {STORE_TABLE} c ON d.body IS NULL AND c.id = d.item_id"
        )

    def _pin_ddl(self) -> list[str]:
        """Triggers that copy an item's indexed text into its ``search_docs`` row before the item's
        text changes or the item goes: FTS5 must read the old text to delete the old tokens."""
        pin = (
            f"UPDATE {self.docs_table} SET title = {_folded('OLD', 'title')}, body = {_folded('OLD', 'text')} "
            "WHERE item_id = OLD.id AND body IS NULL"
        )
        return [
            f"CREATE TRIGGER IF NOT EXISTS {self.pin_triggers[0]} BEFORE UPDATE OF title, text ON {STORE_TABLE} "
            f"BEGIN {pin}; END",
            f"CREATE TRIGGER IF NOT EXISTS {self.pin_triggers[1]} BEFORE DELETE ON {STORE_TABLE} BEGIN {pin}; END",
        ]

    def _drop_ddl(self) -> list[str]:
        return [
            *(f"DROP TRIGGER IF EXISTS {name}" for name in self.pin_triggers),
            f"DROP TABLE IF EXISTS {self.fts_table}",
            f"DROP VIEW IF EXISTS {self.content_view}",
            f"DROP TABLE IF EXISTS {self.docs_table}",
        ]

    def ensure_index(self) -> None:
        if self._ready:
            return
        with self.engine.begin() as conn:
            self._ensure_in(conn)

    def reset_index(self) -> None:
        with self.engine.begin() as conn:
            for statement in self._drop_ddl() + self._ddl():
                conn.exec_driver_sql(statement)
        self._ready = True

    def _schema(self, conn: Connection) -> dict[str, str]:
        """The index's tables, view and triggers (and the store's table) that exist, with their
        SQL: one query."""
        names = (self.fts_table, self.docs_table, self.content_view, STORE_TABLE, *self.pin_triggers)
        marks = ", ".join("?" * len(names))
        rows = conn.exec_driver_sql(f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", names)
        return {name: sql or "" for name, sql in rows}

    def _ensure_in(self, conn: Connection, schema: dict[str, str] | None = None) -> None:
        """Create the tables if they do not exist, or convert an old layout (once per process)."""
        if self._ready:
            return
        schema = self._schema(conn) if schema is None else schema
        has_plain_fts = self.fts_table in schema and "content_rowid" not in schema[self.fts_table]
        if has_plain_fts or not {self.fts_table, self.docs_table, self.content_view} <= schema.keys():
            docs_columns = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({self.docs_table})")}
            if has_plain_fts or (docs_columns and "body" not in docs_columns):
                self._convert_plain_layout(conn, has_plain_fts, docs_columns)
            else:
                for statement in self._ddl():
                    conn.exec_driver_sql(statement)
        self._add_decision_column(conn, schema)
        self._ready = True

    def _add_decision_column(self, conn: Connection, schema: dict[str, str]) -> None:
        """Give an index made before documents carried their decision that column, filled from
        the review tasks where they are in this database (elsewhere ``saqshy reindex`` fills it)."""
        columns = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({self.docs_table})")}
        if "decision" in columns:
            return
        conn.exec_driver_sql(f"ALTER TABLE {self.docs_table} ADD COLUMN decision TEXT")
        if STORE_TABLE in schema:
            conn.exec_driver_sql(
                f"UPDATE {self.docs_table} SET decision = t.decision FROM review_tasks t "
                f"WHERE t.item_id = {self.docs_table}.item_id AND t.decision IS NOT NULL"
            )

    def _convert_plain_layout(self, conn: Connection, has_fts: bool, docs_columns: set[str]) -> None:
        """The layout before external content: a plain FTS5 table holding the text, ``search_docs``
        without it. The text moves into ``search_docs`` and the index is rebuilt from it."""
        if not docs_columns:
            conn.exec_driver_sql(self._ddl()[0])
        else:
            for name in ("title", "body"):
                if name not in docs_columns:
                    conn.exec_driver_sql(f"ALTER TABLE {self.docs_table} ADD COLUMN {name} TEXT")
        if has_fts:
            # The plain table holds exactly the folded text it indexed.
            conn.exec_driver_sql(
                f"UPDATE {self.docs_table} SET title = coalesce(f.title, ''), body = coalesce(f.body, '') "
                f"FROM {self.fts_table} f WHERE f.rowid = {self.docs_table}.item_id"
            )
            conn.exec_driver_sql(f"DROP TABLE {self.fts_table}")
        # A filter row without text (none should exist): it stays listed, with empty text.
        conn.exec_driver_sql(f"UPDATE {self.docs_table} SET title = '', body = '' WHERE body IS NULL")
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {self.content_view}")
        for statement in self._ddl():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"INSERT INTO {self.fts_table} ({self.fts_table}) VALUES ('rebuild')")

    def _attach(self, conn: Connection, schema: dict[str, str]) -> bool:
        """Let documents read their text from ``content_items`` (view and triggers), where that
        table is in this database; False when it is not (an index in its own file). ``schema``:
        what ``_schema`` found before ``_ensure_in`` (which creates no trigger)."""
        if STORE_TABLE not in schema:
            return False
        if not schema.keys() >= set(self.pin_triggers):
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {self.content_view}")
            for statement in [self._view_ddl(attached=True), *self._pin_ddl()]:
                conn.exec_driver_sql(statement)
        return True

    def detach_from_store(self, conn: Connection) -> None:
        """Copy every document's text into ``search_docs`` and drop the view's and triggers' use
        of ``content_items``, in the caller's transaction: a migration may then rebuild that table
        (SQLite checks every view and trigger when a table is renamed) or change its rows."""
        found = set(
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?)", (self.docs_table, *self.pin_triggers)
            ).scalars()
        )
        if self.docs_table not in found:
            return
        if found.intersection(self.pin_triggers):
            conn.exec_driver_sql(
                f"UPDATE {self.docs_table} SET title = {_folded('c', 'title')}, body = {_folded('c', 'text')} "
                f"FROM {STORE_TABLE} c "
                f"WHERE c.id = {self.docs_table}.item_id AND {self.docs_table}.body IS NULL"
            )
            conn.exec_driver_sql(f"UPDATE {self.docs_table} SET title = '', body = '' WHERE body IS NULL")
        for name in self.pin_triggers:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {self.content_view}")
        conn.exec_driver_sql(self._view_ddl(attached=False))

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

        Each document's folded text is stored in ``search_docs`` (whatever the store holds). Creates
        the tables first if they do not exist yet.
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
                d.decision,
            )
            for d in latest.values()
        ]
        fts_rows = [(d.item_id, fold_text(d.title), fold_text(d.text)) for d in latest.values()]
        # Only documents already indexed need their old tokens removed; on a bulk load that is
        # none, and FTS5 deletes cost time even for a missing rowid. The delete reads the old
        # text through the view, so it comes before the filter rows are replaced.
        known = self._known_ids(conn, list(latest))
        if known:
            conn.exec_driver_sql(f"DELETE FROM {self.fts_table} WHERE rowid = ?", [(i,) for i in known])
        conn.exec_driver_sql(f"INSERT INTO {self.fts_table} (rowid, title, body) VALUES (?, ?, ?)", fts_rows)
        conn.exec_driver_sql(
            f"INSERT OR REPLACE INTO {self.docs_table} (item_id, url, language, source_id, "
            "fetched_at, published_at, score, top_category, model_version, categories, "
            "task_status, decision, title, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, title, body) for row, (_, title, body) in zip(docs_rows, fts_rows, strict=True)],
        )
        return list(latest)

    def indexes_in_store(self, connection: Connection) -> bool:
        # Its own file beside a PostgreSQL store is another database, out of the store's transaction.
        return not self.owns_engine and connection.engine is self.engine

    def index_new_items(self, connection: Connection, items: Sequence[NewItem]) -> None:
        self.write_new_items(connection, items)

    def write_new_items(self, conn: Connection, items: Sequence[NewItem]) -> list[int]:
        """``write`` for items just inserted into the store's ``content_items`` table, in this same
        database and in the caller's transaction on ``conn``: ``(item id, title, text)`` each,
        exactly the row's title (a missing one as "") and text. Returns the ids.

        Their documents are the rows as written (a new item has no score and no review task): the
        filter row of each is copied by SQL itself (``INSERT … SELECT`` from the item's row: no
        per-row parameters to bind, a third of ``write``'s cost for that table), and the text is
        not stored again, the index reads it from the item's row (see the module docstring). Text
        that is not NFC is the exception, stored folded: SQL could not fold it as ``fold_text``
        does. The text is folded in Python for the index: SQLite's ``replace`` costs more than
        binding the folded text.
        """
        if not items:
            return []
        schema = self._schema(conn)
        self._ensure_in(conn, schema)
        in_store = self._attach(conn, schema)
        latest = {item[0]: item for item in items}
        ids = list(latest)
        # New rows of one INSERT have consecutive ids: then a range, not a list, selects them.
        first, last = min(ids), max(ids)
        consecutive = last - first + 1 == len(ids)
        if consecutive:
            known = list(
                conn.exec_driver_sql(
                    f"SELECT item_id FROM {self.docs_table} WHERE item_id BETWEEN ? AND ?", (first, last)
                ).scalars()
            )
        else:
            known = self._known_ids(conn, ids)
        if known:
            # Before the filter rows go: FTS5 reads the old text through them.
            conn.exec_driver_sql(f"DELETE FROM {self.fts_table} WHERE rowid = ?", [(i,) for i in known])
            conn.exec_driver_sql(f"DELETE FROM {self.docs_table} WHERE item_id = ?", [(i,) for i in known])
        fts_rows = []
        stored: list[tuple[str, str, int]] = []
        for item_id, title, text in latest.values():
            folded_title = _fold_nfc(title) if in_store else None
            folded_text = _fold_nfc(text) if folded_title is not None else None
            if folded_title is None or folded_text is None:
                folded_title, folded_text = fold_text(title), fold_text(text)
                stored.append((folded_title, folded_text, item_id))
            fts_rows.append((item_id, folded_title, folded_text))
        # The store keeps UTC as "YYYY-MM-DD HH:MM:SS.ffffff", the index as _utc_text's "…T…".
        utc_text = "substr({0}, 1, 10) || 'T' || substr({0}, 12)"
        conn.exec_driver_sql(
            f"INSERT INTO {self.docs_table} (item_id, url, language, source_id, fetched_at, published_at) "
            f"SELECT id, url, language, source_id, {utc_text.format('fetched_at')}, "
            f"{utc_text.format('published_at')} FROM {STORE_TABLE} WHERE "
            + ("id BETWEEN ? AND ?" if consecutive else "id IN (SELECT value FROM json_each(?))"),
            (first, last) if consecutive else (json.dumps(ids),),
        )
        if stored:
            conn.exec_driver_sql(f"UPDATE {self.docs_table} SET title = ?, body = ? WHERE item_id = ?", stored)
        conn.exec_driver_sql(f"INSERT INTO {self.fts_table} (rowid, title, body) VALUES (?, ?, ?)", fts_rows)
        return ids

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
        for name, condition, bound in _FILTERS:
            value = getattr(query, name)
            if value is not None:
                where.append(condition)
                params.append(bound(value))
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
