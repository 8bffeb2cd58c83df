"""The platform context: settings plus the adapters chosen for them, built once and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.session import make_engine, make_session_factory
from saqshy.settings import Settings

if TYPE_CHECKING:
    from saqshy.jobs.base import JobQueue
    from saqshy.search.base import SearchEngine


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _search: SearchEngine | None = field(default=None, repr=False)
    _jobs: JobQueue | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from saqshy.jobs.base import watch_commits

        # Jobs a transaction asks for after commit (``enqueue_after_commit``) go to this port.
        watch_commits(self.sessions, self)

    @property
    def search(self) -> SearchEngine:
        # Built on first use: a CLI command that never searches needs no Elasticsearch.
        if self._search is None:
            from saqshy.search import build_search_engine

            self._search = build_search_engine(self.settings, self.engine)
        return self._search

    @property
    def jobs(self) -> JobQueue:
        if self._jobs is None:
            from saqshy.jobs import build_job_queue

            self._jobs = build_job_queue(self.settings, self.sessions, self)
        return self._jobs

    def close_search(self) -> None:
        """Close the search engine, if one was built (it is built again on next use)."""
        if self._search is not None:
            self._search.close()
            self._search = None

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()
            self._jobs = None
        self.close_search()
        self.engine.dispose()


def build_context(settings: Settings, *, migrate: bool = True) -> Context:
    """Open the store (upgrading its schema unless told not to) and return the context."""
    engine = make_engine(settings)
    if migrate:
        from saqshy.db.migrate import upgrade

        upgrade(engine)
    return Context(settings=settings, engine=engine, sessions=make_session_factory(engine))
