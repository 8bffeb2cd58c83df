"""Elasticsearch stops in the middle of indexing and starts again: no document is lost.

With ``SAQSHY_TEST_SERVICES_SCRIPT`` (set by .ci/run) the real server is stopped and restarted
with ``scripts/services.sh``; without it, the test cuts a TCP proxy in front of the server, which
the client sees the same way (connection refused, connections reset).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from saqshy.db.models import SearchOutbox
from saqshy.db.session import session_scope
from saqshy.search.base import SearchUnavailable
from saqshy.search.elastic import ElasticsearchEngine
from saqshy.search.indexer import drain_outbox, pending_count
from saqshy.services.items import ingest_items
from tests.factories import item_data
from tests.saqshy.search.conftest import Store, elasticsearch_url, unique_index
from tests.saqshy.search.proxy import CuttableProxy
from tests.services import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Outage:
    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture
def outage() -> Iterator[Outage]:
    url = elasticsearch_url()
    script = SERVICES.test_services_script
    if script:

        def run(action: str) -> None:
            subprocess.run(["bash", script, action, "elasticsearch"], check=True, timeout=300)

        try:
            yield Outage(url=url, stop=lambda: run("stop"), start=lambda: run("start"))
        finally:
            run("start")  # whatever happened, later tests need the server back
        return
    parts = urlsplit(url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 9200)
    proxy.start()
    try:
        yield Outage(url=proxy.url, stop=proxy.cut, start=proxy.restore)
    finally:
        proxy.cut()


def test_stopping_elasticsearch_mid_indexing_loses_nothing(store: Store, outage: Outage) -> None:
    es = ElasticsearchEngine(outage.url, unique_index(), request_timeout=10)
    es.ensure_index()
    # The store configured for Elasticsearch: every item goes through the outbox.
    settings = store.settings.model_copy(update={"elasticsearch_url": outage.url})
    created: list[int] = []
    unavailable: list[str] = []
    stop_drainer = threading.Event()

    def ingest(n: int, label: str) -> None:
        with session_scope(store.sessions) as session:
            results = ingest_items(
                session, [item_data(language="kk", text=f"{label} хабар {i}") for i in range(n)], settings
            )
        created.extend(r.item_id for r in results)

    def drainer() -> None:
        # What the index job does in production: drain, and on an outage retry a bit later.
        while not stop_drainer.is_set():
            try:
                drain_outbox(store.sessions, es, batch_size=25)
            except SearchUnavailable as exc:
                unavailable.append(str(exc))
            time.sleep(0.05)

    thread = threading.Thread(target=drainer, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            ingest(40, "дейін")
            time.sleep(0.05)
        outage.stop()
        # The store keeps accepting items while the index is down.
        for _ in range(5):
            ingest(40, "кезінде")
            time.sleep(0.1)
        deadline = time.monotonic() + 30
        while not unavailable and time.monotonic() < deadline:
            time.sleep(0.1)
        assert unavailable, "the drainer never saw the outage"
        with session_scope(store.sessions) as session:
            kept = session.execute(select(SearchOutbox.attempts, SearchOutbox.last_error)).all()
        assert kept, "outbox rows must be kept while Elasticsearch is down"
        assert any(attempts >= 1 and error for attempts, error in kept)
        outage.start()
        ingest(40, "кейін")
        deadline = time.monotonic() + 120
        while pending_count(store.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop_drainer.set()
        thread.join(timeout=60)
    try:
        drain_outbox(store.sessions, es, batch_size=100)
        es.refresh()
        assert pending_count(store.sessions) == 0
        assert len(created) == 440
        assert es.indexed_ids() == set(created)
        assert es.count() == 440
    finally:
        es.delete_index()
        es.close()
