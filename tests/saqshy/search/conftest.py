"""Fixtures of the search contract: a store, and every search adapter over it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.migrate import upgrade
from saqshy.db.session import make_engine, make_session_factory
from saqshy.search.base import SearchEngine
from saqshy.search.elastic import ElasticsearchEngine
from saqshy.search.sqlite_fts import SqliteFtsEngine
from saqshy.settings import Settings
from tests.services import SERVICES, port_open, service_missing


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The SQLite store: the search contract is about the search adapters, not the SQL engine."""
    engine = make_engine(settings)
    upgrade(engine)
    yield Store(engine=engine, sessions=make_session_factory(engine), settings=settings)
    engine.dispose()


def elasticsearch_url() -> str:
    """The test cluster's URL, or skip (fail under SAQSHY_REQUIRE_SERVICES=1) when unreachable."""
    url = SERVICES.test_elasticsearch_url
    if not port_open(url, 9200):
        service_missing("Elasticsearch", url)
    probe = ElasticsearchEngine(url, "saqshy-probe")
    try:
        if not probe.ping():
            service_missing("Elasticsearch", url, f"Elasticsearch at {url} does not answer cluster health")
    finally:
        probe.close()
    return url


def unique_index() -> str:
    return f"saqshy-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fts5", pytest.param("elasticsearch", marks=pytest.mark.integration)])
def search(request: pytest.FixtureRequest, store: Store) -> Iterator[SearchEngine]:
    """Each adapter, empty, on a private index (Elasticsearch: a unique index, deleted after)."""
    if request.param == "fts5":
        engine: SearchEngine = SqliteFtsEngine(store.engine)
        engine.ensure_index()
        yield engine
        engine.close()
        return
    url = elasticsearch_url()
    # The store configured for Elasticsearch, as in production: items reach it through the outbox.
    store.settings = store.settings.model_copy(update={"elasticsearch_url": url})
    es = ElasticsearchEngine(url, unique_index(), chunk_size=store.settings.index_batch_size)
    es.ensure_index()
    try:
        yield es
    finally:
        es.delete_index()
        es.close()
