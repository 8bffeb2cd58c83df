"""Keeps the search index in step with the store: the outbox drain and the full rebuild.

Every write to an item adds a ``search_outbox`` row in the item's own transaction
(``saqshy.services.items``); the one exception is a *new* item when the index is the FTS5 index
inside the store's own SQLite database (``saqshy.search.index_in_store``): its document is written
in that same transaction instead. ``drain_outbox`` walks the rows in id order, in batches:

1. read a batch of rows and build each item's document from SQL *as it is now* (an item that
   no longer exists becomes a delete, whatever the row's op says);
2. send the batch to the engine (one bulk call for upserts, one for deletes);
3. delete exactly the rows whose items the engine acknowledged; rows of rejected documents stay
   with ``attempts + 1`` and ``last_error``.

If the engine is down, the batch's rows stay (``attempts + 1``, ``last_error``), the drain stops
and raises ``SearchUnavailable``: nothing is lost, the next drain catches up. Because documents are
rebuilt from SQL and writes are idempotent upserts by item id, replaying a row is always safe.

Drains (and ``reindex``) are serialised per store with a lock (a PostgreSQL advisory lock, or a
lock file beside the SQLite database): two interleaved drains could otherwise write an older
version of an item over a newer one.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.bulk import unprepared
from saqshy.db.models import ContentItem, OutboxOp, SearchOutbox
from saqshy.db.session import READ_ONLY, session_scope
from saqshy.search.base import (
    ITEM_COLUMNS,
    PreparedDocuments,
    SearchDocument,
    SearchEngine,
    documents_for_items,
    documents_from_rows,
)

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after every batch with (done, total)."""

LOCK_KEY = zlib.crc32(b"saqshy.search.indexer")
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@dataclass
class DrainReport:
    batches: int = 0
    rows_done: int = 0  # outbox rows removed after the engine acknowledged them
    upserted: int = 0
    deleted: int = 0
    failed: int = 0  # documents the engine rejected; their rows stay for the next drain


@dataclass
class ReindexReport:
    total: int = 0
    indexed: int = 0
    failed: int = 0  # re-queued in the outbox


@contextmanager
def index_lock(engine: Engine) -> Iterator[None]:
    """Serialise index writers of one store, across threads and processes."""
    key = engine.url.render_as_string(hide_password=True)
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    with thread_lock:
        if engine.dialect.name == "postgresql":
            # AUTOCOMMIT: the lock connection must not hold a transaction (and a snapshot) open.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            import fcntl

            path = Path(str(engine.url.database)).with_suffix(".index.lock")
            with path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            yield


def pending_count(sessions: sessionmaker[Session]) -> int:
    """Outbox rows not yet acknowledged by the search engine."""
    with session_scope(sessions) as session:
        return session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


def _record_failures(engine: Engine, rows: list[tuple[int, int, str]]) -> None:
    """rows: (outbox id, attempts so far, error)."""
    if not rows:
        return
    with session_scope(sessionmaker(bind=engine)) as session:
        session.execute(
            update(SearchOutbox),
            [{"id": row_id, "attempts": attempts + 1, "last_error": error[:2000]} for row_id, attempts, error in rows],
        )


@dataclass
class _Batch:
    rows: list[tuple[int, int, int]]  # (outbox id, item id, attempts)
    documents: list[SearchDocument]
    gone: list[int]  # items no longer in SQL: delete their documents


# The batch's outbox rows with their items' columns, in one query (an item gone from SQL has
# NULLs): a read is then this, the scores and the review tasks, nothing else.
_BATCH_ROWS = (
    select(SearchOutbox.id, SearchOutbox.item_id, SearchOutbox.attempts, ContentItem.id.label("found"), *ITEM_COLUMNS)
    .select_from(SearchOutbox)
    .outerjoin(ContentItem, ContentItem.id == SearchOutbox.item_id)
    .where(SearchOutbox.id > bindparam("after_id"))
    .order_by(SearchOutbox.id)
    .limit(bindparam("batch_size"))
)


@contextmanager
def _connection(engine: Engine, *, read_only: bool) -> Iterator[Connection]:
    """A connection for one step of the drain, committed at the end.

    On PostgreSQL each step is one statement, or reads that need no common snapshot (the drain
    rebuilds documents from whatever SQL holds when it reads): autocommit spares the BEGIN and
    COMMIT round trips, and no plan is prepared (a plan cached while the tables were small would
    scan them whole). On SQLite, reads are DEFERRED transactions, so they never wait for the
    writer (an FTS index in the same database may be being written at this moment), and writes
    IMMEDIATE ones.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, unprepared(conn):
            yield conn
    else:
        with engine.connect() as conn:
            if read_only:
                conn = conn.execution_options(**READ_ONLY)
            with conn.begin():
                yield conn


def _read_batch(engine: Engine, after_id: int, batch_size: int) -> _Batch | None:
    with _connection(engine, read_only=True) as connection:
        rows = connection.execute(_BATCH_ROWS, {"after_id": after_id, "batch_size": batch_size}).all()
        if not rows:
            return None
        items = {row[4]: row[4:] for row in rows if row[3] is not None}
        # The batch as a subquery: no thousands of bound ids to compile and send.
        documents = documents_from_rows(
            connection,
            list(items.values()),
            select(SearchOutbox.item_id).where(SearchOutbox.id.between(rows[0][0], rows[-1][0])),
        )
    gone = sorted({row[1] for row in rows} - documents.keys())
    return _Batch([(row[0], row[1], row[2]) for row in rows], list(documents.values()), gone)


def drain_outbox(
    sessions: sessionmaker[Session],
    search: SearchEngine,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> DrainReport:
    """Push pending outbox rows into the engine (see the module docstring). Raises
    SearchUnavailable, after recording the attempt, when the engine cannot be reached.

    One batch is in flight (sent to the engine, then its outbox rows deleted, on a sender thread)
    while the next is read from SQL and prepared for the engine (``prepare_documents``: folded
    and serialised), so the engine's indexing (a JVM, or SQLite's tokenizer, which runs without
    the GIL) overlaps all our CPU work. Batches still reach the engine strictly in outbox order,
    one at a time, so a newer version of an item is never overwritten by an older one.
    """
    report = DrainReport()
    engine = sessions.kw["bind"]
    with index_lock(engine), ThreadPoolExecutor(max_workers=1, thread_name_prefix="saqshy-index") as sender:
        total = pending_count(sessions) if progress else 0
        in_flight: Future[None] | None = None
        last_id = 0
        exhausted = False  # the last read returned a short batch: nothing more to read
        while True:
            ready: tuple[_Batch, PreparedDocuments] | None = None
            if not exhausted and (max_batches is None or report.batches < max_batches):
                batch = _read_batch(engine, last_id, batch_size)
                if batch is not None:
                    ready = (batch, search.prepare_documents(batch.documents))
            if in_flight is not None:
                in_flight.result()  # raises the engine's failure, after its rows were kept
                in_flight = None
                if progress:
                    progress(report.rows_done, max(total, report.rows_done))
            if ready is None:
                break
            batch, prepared = ready
            report.batches += 1
            last_id = batch.rows[-1][0]
            exhausted = len(batch.rows) < batch_size
            in_flight = sender.submit(_send_and_acknowledge, engine, search, report, batch, prepared)
    return report


def _send_and_acknowledge(
    engine: Engine, search: SearchEngine, report: DrainReport, batch: _Batch, prepared: PreparedDocuments
) -> None:
    """Send a batch to the engine; delete the rows it acknowledged, record the rest."""
    rows = batch.rows
    try:
        upserts, deletes = search.index_prepared(prepared), search.delete_documents(batch.gone)
    except Exception as exc:
        _record_failures(engine, [(row_id, attempts, f"{type(exc).__name__}: {exc}") for row_id, _, attempts in rows])
        logger.warning("search indexing failed, %d outbox rows kept for retry: %s", len(rows), exc)
        raise
    failed = {**upserts.failed, **deletes.failed}
    done = [row_id for row_id, item_id, _ in rows if item_id not in failed]
    with _connection(engine, read_only=False) as connection:
        _delete_rows(connection, done)
    _record_failures(
        engine, [(row_id, attempts, failed[item_id]) for row_id, item_id, attempts in rows if item_id in failed]
    )
    if failed:
        logger.warning("search engine rejected %d documents: %s", len(failed), next(iter(failed.values())))
    report.rows_done += len(done)
    report.upserted += len(upserts.acknowledged)
    report.deleted += len(deletes.acknowledged)
    report.failed += len(failed)


# The acknowledged rows, deleted by id with the ids as one parameter (an array on PostgreSQL, a
# JSON array on SQLite): an ``in_(ids)`` renders, and the driver parses, one placeholder per row.
_DELETE_ROWS = {
    "postgresql": delete(SearchOutbox).where(
        SearchOutbox.id == any_(bindparam("ids", type_=postgresql.ARRAY(Integer)))
    ),
    "sqlite": delete(SearchOutbox).where(
        SearchOutbox.id.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String))))
    ),
}


def _delete_rows(connection: Connection, ids: list[int]) -> None:
    if not ids:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.execute(_DELETE_ROWS[dialect], {"ids": json.dumps(ids)})
    elif dialect in _DELETE_ROWS:
        connection.execute(_DELETE_ROWS[dialect], {"ids": ids})
    else:
        connection.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(ids)))


def rebuild_index(
    sessions: sessionmaker[Session],
    search: SearchEngine,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> ReindexReport:
    """Drop the index and rebuild it from every item in SQL, in id order.

    The index is empty (then partial) while this runs. Outbox rows are left alone: draining them
    afterwards only rewrites documents with the same content. Documents the engine rejects are
    queued in the outbox again, so a later drain retries them and they stay visible there.
    """
    engine = sessions.kw["bind"]
    with index_lock(engine):
        with session_scope(sessions) as session:
            total = session.scalar(select(func.count()).select_from(ContentItem)) or 0
        report = ReindexReport(total=total)
        search.reset_index()
        if progress:
            progress(0, total)
        last_id = 0
        while True:
            with session_scope(sessions) as session:
                ids = list(
                    session.scalars(
                        select(ContentItem.id)
                        .where(ContentItem.id > last_id)
                        .order_by(ContentItem.id)
                        .limit(batch_size)
                    )
                )
                if not ids:
                    break
                documents = documents_for_items(
                    session, select(ContentItem.id).where(ContentItem.id.between(ids[0], ids[-1]))
                )
            last_id = ids[-1]
            outcome = search.index_documents(list(documents.values()))
            if outcome.failed:
                with session_scope(sessions) as session:
                    session.execute(
                        insert(SearchOutbox),
                        [{"item_id": item_id, "op": OutboxOp.UPSERT} for item_id in outcome.failed],
                    )
            report.indexed += len(outcome.acknowledged)
            report.failed += len(outcome.failed)
            if progress:
                progress(report.indexed + report.failed, max(total, report.indexed + report.failed))
        search.refresh()
    return report


def index_pending(ctx: Context, progress: Progress | None = None) -> DrainReport:
    """Drain the outbox into the context's search engine (the job and ``saqshy index`` call this)."""
    return drain_outbox(ctx.sessions, ctx.search, batch_size=ctx.settings.index_batch_size, progress=progress)


def reindex(ctx: Context, progress: Progress | None = None) -> ReindexReport:
    """Rebuild the whole index from SQL (``saqshy reindex``)."""
    return rebuild_index(ctx.sessions, ctx.search, batch_size=ctx.settings.index_batch_size, progress=progress)
