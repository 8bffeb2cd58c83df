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
from typing import TYPE_CHECKING, Any

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

from saqshy.db.models import ContentItem, OutboxOp, SearchOutbox
from saqshy.db.session import READ_ONLY, session_scope
from saqshy.search.base import BulkOutcome, SearchDocument, SearchEngine, documents_for_items

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


def _record_failures(sessions: sessionmaker[Session], rows: list[tuple[int, int, str]]) -> None:
    """rows: (outbox id, attempts so far, error)."""
    if not rows:
        return
    with session_scope(sessions) as session:
        session.execute(
            update(SearchOutbox),
            [{"id": row_id, "attempts": attempts + 1, "last_error": error[:2000]} for row_id, attempts, error in rows],
        )


@dataclass
class _Batch:
    rows: list[Any]  # (outbox id, item id, attempts)
    documents: list[SearchDocument]
    gone: list[int]  # items no longer in SQL: delete their documents


def _read_batch(sessions: sessionmaker[Session], after_id: int, batch_size: int) -> _Batch | None:
    # A read-only transaction: on SQLite it must not take the write lock, since the previous
    # batch may be being written into an FTS index in the same database at this moment.
    with session_scope(sessions) as session:
        rows = (
            session.connection(execution_options=READ_ONLY)
            .execute(
                select(SearchOutbox.id, SearchOutbox.item_id, SearchOutbox.attempts)
                .where(SearchOutbox.id > after_id)
                .order_by(SearchOutbox.id)
                .limit(batch_size)
            )
            .all()
        )
        if not rows:
            return None
        # The batch as a subquery: no thousands of bound ids to compile and send.
        documents = documents_for_items(
            session, select(SearchOutbox.item_id).where(SearchOutbox.id.between(rows[0].id, rows[-1].id))
        )
    gone = sorted({row.item_id for row in rows} - documents.keys())
    return _Batch(list(rows), list(documents.values()), gone)


def _send(search: SearchEngine, batch: _Batch) -> tuple[BulkOutcome, BulkOutcome]:
    return search.index_documents(batch.documents), search.delete_documents(batch.gone)


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

    One batch is in flight while the next is read from SQL: the engine's indexing (a JVM, or
    SQLite's tokenizer, which runs without the GIL) overlaps our reading and serialising. Batches
    still reach the engine strictly in outbox order, one at a time, so a newer version of an item
    is never overwritten by an older one.
    """
    report = DrainReport()
    engine = sessions.kw["bind"]
    with index_lock(engine), ThreadPoolExecutor(max_workers=1, thread_name_prefix="saqshy-index") as sender:
        total = pending_count(sessions) if progress else 0
        in_flight: tuple[_Batch, Future[tuple[BulkOutcome, BulkOutcome]]] | None = None
        last_id = 0
        exhausted = False  # the last read returned a short batch: nothing more to read
        while True:
            batch = None
            if not exhausted and (max_batches is None or report.batches < max_batches):
                batch = _read_batch(sessions, last_id, batch_size)
            if in_flight is not None:
                _acknowledge(sessions, report, *in_flight)
                in_flight = None
                if progress:
                    progress(report.rows_done, max(total, report.rows_done))
            if batch is None:
                break
            report.batches += 1
            last_id = batch.rows[-1].id
            exhausted = len(batch.rows) < batch_size
            in_flight = (batch, sender.submit(_send, search, batch))
    return report


def _acknowledge(
    sessions: sessionmaker[Session],
    report: DrainReport,
    batch: _Batch,
    outcome: Future[tuple[BulkOutcome, BulkOutcome]],
) -> None:
    """Wait for a batch's engine writes; delete the rows it acknowledged, record the rest."""
    rows = batch.rows
    try:
        upserts, deletes = outcome.result()
    except Exception as exc:
        _record_failures(sessions, [(r.id, r.attempts, f"{type(exc).__name__}: {exc}") for r in rows])
        logger.warning("search indexing failed, %d outbox rows kept for retry: %s", len(rows), exc)
        raise
    failed = {**upserts.failed, **deletes.failed}
    done = [row.id for row in rows if row.item_id not in failed]
    with session_scope(sessions) as session:
        _delete_rows(session.connection(), done)
    _record_failures(sessions, [(r.id, r.attempts, failed[r.item_id]) for r in rows if r.item_id in failed])
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
