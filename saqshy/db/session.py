"""Engine and session factory for the store of record (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from saqshy.settings import Settings


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the API) run while a writer (a crawl, a job) commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Execution option naming how a SQLite transaction begins. Sessions write, so they default to
# IMMEDIATE; read-only probes and queries pass READ_ONLY so they never wait for a writer.
SQLITE_BEGIN = "sqlite_begin"
READ_ONLY: dict[str, Any] = {SQLITE_BEGIN: "DEFERRED"}


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN: two writers then queue on busy_timeout instead
    # of one failing with "database is locked" when it upgrades a read transaction. In WAL
    # mode a DEFERRED (read) transaction never waits for a writer.
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(settings: Settings, url: str | None = None, **kwargs: Any) -> Engine:
    url = url or settings.sqlalchemy_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # The pysqlite driver's own transaction handling is disabled so BEGIN is ours.
            **kwargs,
        )
        event.listen(engine, "connect", _configure_sqlite)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", settings.database_pool_size)
    kwargs.setdefault("max_overflow", settings.database_max_overflow)
    return create_engine(url, **kwargs)


def warm_pool(engine: Engine) -> int:
    """Open the pool's connections now, at a server's start, rather than inside requests.

    A new PostgreSQL connection costs a backend start and a SCRAM handshake (tens of ms of CPU on
    a busy machine): without this, the first requests to need each of the pool's connections wait
    for it. Returns how many were opened (none on SQLite, whose connections are free to open).
    """
    if is_sqlite(engine):
        return 0
    size = getattr(engine.pool, "size", lambda: 0)()
    connections = []
    try:
        for _ in range(size):
            connections.append(engine.connect())
    finally:
        for connection in connections:
            connection.close()
    return len(connections)


def flushed_connection(session: Session) -> Connection:
    """The session's connection for a Core read, after anything pending is flushed (Core reads
    bypass autoflush, and must still see what the session has written)."""
    session.flush()
    return session.connection()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
