"""The search port's contract, run unchanged against every adapter (FTS5 and Elasticsearch).

Items always enter through the store (``ingest_items``) and reach the index as in production:
through the outbox for Elasticsearch; for FTS5 inside the store's database, a new item's
document is written in its own transaction and every later change goes through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select

from saqshy.db.models import (
    ContentItem,
    OutboxOp,
    ReviewTask,
    Score,
    SearchOutbox,
    Source,
    SourceKind,
    TaskStatus,
    Verdict,
)
from saqshy.db.session import session_scope
from saqshy.search.base import BulkOutcome, SearchDocument, SearchEngine, SearchQuery, SearchResult, SearchUnavailable
from saqshy.search.indexer import drain_outbox, pending_count, rebuild_index
from saqshy.services.items import ingest_items, mark_for_reindex
from tests.factories import item_data
from tests.saqshy.search.conftest import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)

CORPUS = {
    "ru": ("Продаю закладки, пишите в личку", "Доставка по Алматы. Ёлочные игрушки и закладки недорого."),
    "kk": ("Жаңа жұмыс ұсынысы", "Күніне елу мың теңге, тәжірибе қажет емес. Әкімдік ғимараты, үй, өнер, іс."),
    "en": ("Phone scam warning", "Police warn residents about a new phone scam targeting pensioners."),
}


def ingest(store: Store, items: Sequence[dict[str, Any]]) -> list[int]:
    with session_scope(store.sessions) as session:
        return [r.item_id for r in ingest_items(session, list(items), store.settings)]


def sync(store: Store, search: SearchEngine) -> None:
    drain_outbox(store.sessions, search, batch_size=store.settings.index_batch_size)
    search.refresh()


def find(search: SearchEngine, **query: Any) -> SearchResult:
    return search.search(SearchQuery(**query))


def ids(result: SearchResult) -> list[int]:
    return [hit.item_id for hit in result.hits]


@pytest.fixture
def corpus(store: Store, search: SearchEngine) -> dict[str, int]:
    by_language = {}
    for n, (language, (title, text)) in enumerate(CORPUS.items()):
        (item_id,) = ingest(
            store,
            [item_data(language=language, title=title, text=text, fetched_at=T0 + timedelta(days=n))],
        )
        by_language[language] = item_id
    sync(store, search)
    return by_language


def test_indexes_every_ingested_item(store: Store, search: SearchEngine, corpus: dict[str, int]) -> None:
    assert search.count() == 3
    assert search.indexed_ids() == set(corpus.values())
    assert pending_count(store.sessions) == 0


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("закладки", "ru"),
        ("ЗАКЛАДКИ личку", "ru"),
        ("ұсынысы", "kk"),
        ("ҰСЫНЫСЫ", "kk"),  # case folding of Kazakh letters
        ("Әкімдік ғимараты", "kk"),
        ("үй өнер іс теңге", "kk"),
        ("pensioners", "en"),
        ("SCAM police", "en"),
    ],
)
def test_finds_words_in_russian_kazakh_and_english(
    search: SearchEngine, corpus: dict[str, int], text: str, language: str
) -> None:
    result = find(search, text=text)
    assert ids(result) == [corpus[language]], text
    assert result.total == 1
    assert result.hits[0].relevance > 0


def test_all_words_must_match(search: SearchEngine, corpus: dict[str, int]) -> None:
    assert find(search, text="закладки pensioners").total == 0
    assert find(search, text="нетакогослова").total == 0


def test_yo_and_ye_are_the_same_letter(search: SearchEngine, corpus: dict[str, int]) -> None:
    assert ids(find(search, text="елочные")) == [corpus["ru"]]
    assert ids(find(search, text="ёлочные")) == [corpus["ru"]]


def test_highlights_are_escaped_html(store: Store, search: SearchEngine) -> None:
    (item_id,) = ingest(store, [item_data(title="Закладки <b>тут</b>", text="<script>alert(1)</script> закладки")])
    sync(store, search)
    (hit,) = find(search, text="закладки").hits
    assert hit.item_id == item_id
    assert hit.highlights["title"] == ["<mark>Закладки</mark> &lt;b&gt;тут&lt;/b&gt;"]
    (fragment,) = hit.highlights["text"]
    assert "<mark>закладки</mark>" in fragment and "<script>" not in fragment and "&lt;script&gt;" in fragment


@pytest.mark.parametrize("text", ['"', "AND OR NOT", "NEAR(a b)", "*", "title:x", "(", "-закладки", "a' OR 1=1 --"])
def test_query_syntax_in_user_text_is_harmless(search: SearchEngine, corpus: dict[str, int], text: str) -> None:
    result = find(search, text=text)
    assert result.total == len(result.hits)
    assert find(search, text="-закладки").total == 1  # the word, not an operator


def test_filters(store: Store, search: SearchEngine) -> None:
    with session_scope(store.sessions) as session:
        source = Source(name="forum", url="https://forum.test/", kind=SourceKind.FORUM)
        session.add(source)
        session.flush()
        source_id = source.id
    items = [
        item_data(language="ru", text="закладки один", fetched_at=T0),
        item_data(language="ru", text="закладки два", fetched_at=T0 + timedelta(days=1), source_id=source_id),
        item_data(language="kk", text="закладки үш", fetched_at=T0 + timedelta(days=2), source_id=source_id),
        item_data(language="en", text="nothing here", fetched_at=T0 + timedelta(days=3)),
    ]
    a, b, c, d = ingest(store, items)
    with session_scope(store.sessions) as session:
        session.add_all(
            [
                Score(item_id=a, model_version="m1", probabilities={"drugs": 0.2}, score=0.2, top_category="drugs"),
                # The latest score counts: b was "drugs" and is now "fraud".
                Score(
                    item_id=b,
                    model_version="m1",
                    probabilities={"drugs": 0.9},
                    score=0.9,
                    top_category="drugs",
                    created_at=T0,
                ),
                Score(
                    item_id=b,
                    model_version="m2",
                    probabilities={"drugs": 0.1, "fraud": 0.8},
                    score=0.8,
                    top_category="fraud",
                    created_at=T0 + timedelta(hours=1),
                ),
                Score(item_id=c, model_version="m2", probabilities={"drugs": 0.95}, score=0.95, top_category="drugs"),
                ReviewTask(item_id=c, status=TaskStatus.NEEDS_MODERATOR, score=0.95),
                ReviewTask(item_id=a, status=TaskStatus.DECIDED, decision=Verdict.ILLEGAL,
                           decided_category="extremism"),
            ]
        )
        mark_for_reindex(session, [a, b, c])
    sync(store, search)

    assert set(ids(find(search, language="ru"))) == {a, b}
    assert set(ids(find(search, source_id=source_id))) == {b, c}
    assert set(ids(find(search, category="drugs"))) == {a, c}  # a: top category, c: probability
    assert set(ids(find(search, category="fraud"))) == {b}
    assert set(ids(find(search, category="extremism"))) == {a}  # the moderator's decision
    assert set(ids(find(search, task_status=TaskStatus.NEEDS_MODERATOR))) == {c}
    assert set(ids(find(search, decision=Verdict.ILLEGAL))) == {a}
    assert set(ids(find(search, decision=Verdict.LEGAL))) == set()
    assert set(ids(find(search, min_score=0.8))) == {b, c}
    assert set(ids(find(search, max_score=0.9))) == {a, b}  # inclusive, like min_score
    assert set(ids(find(search, min_score=0.5, max_score=0.9))) == {b}
    assert set(ids(find(search, fetched_from=T0 + timedelta(days=1), fetched_to=T0 + timedelta(days=3)))) == {b, c}
    assert set(ids(find(search, text="закладки", language="ru", source_id=source_id))) == {b}
    assert set(ids(find(search, text="закладки", category="drugs", min_score=0.5))) == {c}
    # Naive datetimes are UTC.
    assert set(ids(find(search, fetched_from=datetime(2026, 1, 3, 12)))) == {d}


def test_no_text_lists_newest_first_with_paging(store: Store, search: SearchEngine) -> None:
    created = ingest(
        store, [item_data(text=f"закладки номер {n}", fetched_at=T0 + timedelta(hours=n)) for n in range(7)]
    )
    sync(store, search)
    newest_first = list(reversed(created))
    page1 = find(search, limit=3)
    page2 = find(search, limit=3, offset=3)
    page3 = find(search, limit=3, offset=6)
    assert (page1.total, page2.total, page3.total) == (7, 7, 7)
    assert ids(page1) + ids(page2) + ids(page3) == newest_first
    text_pages = ids(find(search, text="закладки", limit=4)) + ids(find(search, text="закладки", limit=4, offset=4))
    assert sorted(text_pages) == sorted(created)


def test_update_in_place(store: Store, search: SearchEngine) -> None:
    data = item_data(language="ru", text="старый текст про закладки")
    (item_id,) = ingest(store, [data])
    sync(store, search)
    (same_id,) = ingest(store, [{**data, "text": "новый текст про мошенников"}])
    assert same_id == item_id
    sync(store, search)
    assert find(search, text="закладки").total == 0
    assert ids(find(search, text="мошенников")) == [item_id]
    assert search.count() == 1


def test_delete(store: Store, search: SearchEngine, corpus: dict[str, int]) -> None:
    gone = corpus["kk"]
    with session_scope(store.sessions) as session:
        session.execute(delete(ContentItem).where(ContentItem.id == gone))
        session.execute(insert(SearchOutbox), [{"item_id": gone, "op": OutboxOp.DELETE}])
    sync(store, search)
    assert find(search, text="ұсынысы").total == 0
    assert search.indexed_ids() == {corpus["ru"], corpus["en"]}
    # Deleting what is not indexed is acknowledged, not an error.
    assert search.delete_documents([gone, 10**9]).failed == {}


def test_reindex_rebuilds_from_sql(store: Store, search: SearchEngine) -> None:
    created = ingest(store, [item_data(language="kk", text=f"жаңа хабар {n}") for n in range(23)])
    with session_scope(store.sessions) as session:
        session.execute(delete(SearchOutbox))  # as if the index had been lost with its outbox
    search.index_documents(
        [SearchDocument(item_id=10**9, url="https://stale.test/", language="ru", title="", text="x", fetched_at=T0)]
    )
    seen: list[tuple[int, int]] = []
    report = rebuild_index(
        store.sessions, search, batch_size=5, progress=lambda done, total: seen.append((done, total))
    )
    assert (report.total, report.indexed, report.failed) == (23, 23, 0)
    assert search.indexed_ids() == set(created)  # the stale document is gone
    assert find(search, text="хабар").total == 23
    assert seen[0] == (0, 23) and seen[-1] == (23, 23) and len(seen) == 6


class Flaky(SearchEngine):
    """The real adapter behind a switch: ``down`` makes every write fail as an outage would."""

    def __init__(self, inner: SearchEngine) -> None:
        self.inner = inner
        self.down = False
        self.reject: set[int] = set()

    def _check(self) -> None:
        if self.down:
            raise SearchUnavailable("simulated outage")

    def ensure_index(self) -> None:
        self.inner.ensure_index()

    def reset_index(self) -> None:
        self.inner.reset_index()

    def index_documents(self, documents: Sequence[SearchDocument]) -> BulkOutcome:
        self._check()
        outcome = self.inner.index_documents([d for d in documents if d.item_id not in self.reject])
        outcome.failed.update({d.item_id: "rejected" for d in documents if d.item_id in self.reject})
        return outcome

    def delete_documents(self, item_ids: Sequence[int]) -> BulkOutcome:
        self._check()
        return self.inner.delete_documents(item_ids)

    def search(self, query: SearchQuery) -> SearchResult:
        return self.inner.search(query)

    def count(self) -> int:
        return self.inner.count()

    def indexed_ids(self) -> set[int]:
        return self.inner.indexed_ids()

    def refresh(self) -> None:
        self.inner.refresh()


def test_outbox_keeps_rows_while_the_engine_is_down(store: Store, search: SearchEngine) -> None:
    flaky = Flaky(search)
    first = ingest(store, [item_data(text=f"до сбоя {n}") for n in range(10)])
    changing = [item_data(text=f"первая версия {n}") for n in range(12)]
    during = ingest(store, changing)
    sync(store, flaky)
    flaky.down = True
    # Updates while the engine is down: every adapter takes these through the outbox.
    assert ingest(store, [{**data, "text": f"во время сбоя {n}"} for n, data in enumerate(changing)]) == during
    with pytest.raises(SearchUnavailable):
        drain_outbox(store.sessions, flaky, batch_size=5)
    with session_scope(store.sessions) as session:
        rows = session.execute(select(SearchOutbox.attempts, SearchOutbox.last_error)).all()
    assert len(rows) == 12
    assert sum(1 for attempts, error in rows if attempts == 1 and "simulated outage" in (error or "")) == 5
    flaky.down = False
    sync(store, flaky)
    assert search.indexed_ids() == set(first + during)
    assert set(ids(find(search, text="сбоя", limit=50))) == set(first + during)
    assert find(search, text="первая").total == 0
    assert pending_count(store.sessions) == 0


def test_rejected_documents_stay_in_the_outbox(store: Store, search: SearchEngine) -> None:
    flaky = Flaky(search)
    created = ingest(store, [item_data(text=f"документ {n}") for n in range(4)])
    sync(store, search)
    with session_scope(store.sessions) as session:
        mark_for_reindex(session, created)  # as a new score or a decision does
    flaky.reject = {created[1]}
    report = drain_outbox(store.sessions, flaky)
    assert (report.rows_done, report.failed) == (3, 1)
    with session_scope(store.sessions) as session:
        row = session.execute(select(SearchOutbox.item_id, SearchOutbox.attempts, SearchOutbox.last_error)).one()
        assert tuple(row) == (created[1], 1, "rejected")
        assert session.scalar(select(func.count()).select_from(SearchOutbox)) == 1
    flaky.reject = set()
    sync(store, flaky)
    assert search.indexed_ids() == set(created)
