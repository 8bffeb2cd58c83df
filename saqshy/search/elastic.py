"""The Elasticsearch 8 adapter (official ``elasticsearch`` client, bulk writes via its helpers).

Mapping for Russian, Kazakh and English text that works on every Elasticsearch 8, including the
bare distribution CI runs (no ``analysis-common`` module: no language analyzers, no stemmers, no
``asciifolding``, no char filters). ``title`` and ``text`` use ``saqshy_text``: the standard
tokenizer (Unicode word boundaries, right for all three languages) and the built-in
``lowercase`` filter, which folds Cyrillic case, Kazakh letters included. ё→е and Unicode NFC are
folded in Python (``fold_text``) on documents and queries alike, the same as the FTS5 adapter.
Kazakh has no Elasticsearch stemmer at all, so exact word forms are the common ground.

With ``SAQSHY_ELASTICSEARCH_LANGUAGE_ANALYZERS=true`` (clusters that ship analysis-common, i.e.
every production distribution) both fields get ``.ru`` and ``.en`` sub-fields with the
``russian`` and ``english`` analyzers, and text queries also match stems there.

Filter fields are ``keyword``/numeric/date, never analysed. Documents are keyed by item id, so
indexing is an idempotent upsert and a retried bulk never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from saqshy.search.base import (
    MARK_END,
    MARK_START,
    BulkOutcome,
    PreparedDocuments,
    SearchDocument,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    fold_text,
    render_highlight,
)
from saqshy.settings import Settings
from saqshy.timeutil import iso

TEXT_ANALYZER = "saqshy_text"
# What a bulk response keeps of each item: what ``helpers.bulk`` and ``_bulk`` read (the status,
# the id and the error of a failed one). The full item also repeats the index name, the version,
# the shard counts and the sequence numbers: five times the bytes to receive and parse, on the
# drain's critical path (the next bulk waits for this one's response).
BULK_FILTER_PATH = "items.*._id,items.*.status,items.*.error"
LANGUAGE_ANALYZERS = {"ru": "russian", "en": "english"}


# Fields added to the mapping after indexes were first created: ``ensure_index`` adds them to an
# existing index (``saqshy reindex`` then fills them for documents indexed before).
LATER_FIELDS: dict[str, Any] = {"decision": {"type": "keyword"}}


def index_body(language_analyzers: bool) -> dict[str, Any]:
    """Settings and mappings of the items index."""
    text_field: dict[str, Any] = {"type": "text", "analyzer": TEXT_ANALYZER}
    if language_analyzers:
        text_field["fields"] = {
            lang: {"type": "text", "analyzer": analyzer} for lang, analyzer in LANGUAGE_ANALYZERS.items()
        }
    return {
        "settings": {
            "number_of_shards": 1,
            # 0 on a single node (green, not yellow), 1 as soon as the cluster has a second node.
            "auto_expand_replicas": "0-1",
            "analysis": {
                "analyzer": {TEXT_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "item_id": {"type": "long"},
                "url": {"type": "keyword", "index": False},
                "language": {"type": "keyword"},
                "source_id": {"type": "long"},
                "title": text_field,
                "text": text_field,
                "fetched_at": {"type": "date"},
                "published_at": {"type": "date"},
                "score": {"type": "float"},
                "top_category": {"type": "keyword"},
                "model_version": {"type": "keyword"},
                "categories": {"type": "keyword"},
                "task_status": {"type": "keyword"},
                **LATER_FIELDS,
            },
        },
    }


# The matched words of the title (whole) and of one text fragment, marked for render_highlight.
HIGHLIGHT: dict[str, Any] = {
    "pre_tags": [MARK_START],
    "post_tags": [MARK_END],
    "require_field_match": False,
    "fields": {
        "title": {"number_of_fragments": 0},
        "text": {"fragment_size": 200, "number_of_fragments": 1, "no_match_size": 0},
    },
}


def _filters(query: SearchQuery) -> list[dict[str, Any]]:
    """The query's structured filters, as Elasticsearch filter clauses."""
    filters: list[dict[str, Any]] = []
    if query.language is not None:
        filters.append({"term": {"language": query.language}})
    if query.source_id is not None:
        filters.append({"term": {"source_id": query.source_id}})
    if query.category is not None:
        filters.append({"term": {"categories": query.category}})
    if query.task_status is not None:
        filters.append({"term": {"task_status": query.task_status.value}})
    if query.decision is not None:
        filters.append({"term": {"decision": query.decision.value}})
    if query.min_score is not None or query.max_score is not None:
        score_bounds = {"gte": query.min_score, "lte": query.max_score}
        filters.append({"range": {"score": {k: v for k, v in score_bounds.items() if v is not None}}})
    if query.fetched_from is not None or query.fetched_to is not None:
        bounds = {"gte": iso(query.fetched_from), "lt": iso(query.fetched_to)}
        filters.append({"range": {"fetched_at": {k: v for k, v in bounds.items() if v is not None}}})
    return filters


def _search_hit(hit: dict[str, Any]) -> SearchHit:
    highlights = {
        field: [render_highlight(fragment) for fragment in fragments]
        for field, fragments in (hit.get("highlight") or {}).items()
        if field in ("title", "text")
    }
    relevance = hit.get("_score")
    return SearchHit(item_id=int(hit["_id"]), relevance=float(relevance or 0.0), highlights=highlights)


class ElasticsearchEngine(SearchEngine):
    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        index: str,
        *,
        language_analyzers: bool = False,
        request_timeout: float = 30.0,
        chunk_size: int = 500,
    ) -> None:
        self.url = url
        self.index = index
        self.language_analyzers = language_analyzers
        self.chunk_size = chunk_size
        self.client = Elasticsearch(url, request_timeout=request_timeout, max_retries=2, retry_on_timeout=True)
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings, *, index: str | None = None) -> ElasticsearchEngine:
        if not settings.elasticsearch_url:
            raise ValueError("SAQSHY_ELASTICSEARCH_URL is not set")
        return cls(
            settings.elasticsearch_url,
            index or settings.elasticsearch_index,
            language_analyzers=settings.elasticsearch_language_analyzers,
            chunk_size=settings.index_batch_size,
        )

    def _unavailable(self, exc: Exception) -> SearchUnavailable:
        return SearchUnavailable(f"Elasticsearch at {self.url} is unavailable: {exc}", url=self.url)

    def _call(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Run a client call, turning "cannot reach / overloaded" into SearchUnavailable."""
        try:
            return fn(*args, **kwargs)
        except TransportError as exc:  # connection refused, timeout, …
            raise self._unavailable(exc) from exc
        except ApiError as exc:
            if exc.meta.status >= 500 or exc.meta.status == 429:
                raise self._unavailable(exc) from exc
            raise

    # -- index management

    def _create(self) -> None:
        body = index_body(self.language_analyzers)
        try:
            self._call(self.client.indices.create, index=self.index, **body)
        except ApiError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
        # Waiting for the primary shard keeps the first bulk from failing with unavailable shards.
        self._call(self.client.cluster.health, index=self.index, wait_for_status="yellow", timeout="30s")

    def ensure_index(self) -> None:
        if self._ready:
            return
        if not self._call(self.client.indices.exists, index=self.index):
            self._create()
        else:
            # An additive mapping change, a no-op once made: documents of an index created before
            # they carried their decision are refused by the strict mapping without it.
            self._call(self.client.indices.put_mapping, index=self.index, properties=LATER_FIELDS)
        self._ready = True

    def reset_index(self) -> None:
        self._call(self.client.options(ignore_status=404).indices.delete, index=self.index)
        self._create()
        self._ready = True

    def delete_index(self) -> None:
        """Drop the index entirely (tests clean up their private indexes with this)."""
        self._call(self.client.options(ignore_status=404).indices.delete, index=self.index)
        self._ready = False

    # -- writes

    def _source(self, doc: SearchDocument) -> dict[str, Any]:
        return {
            "item_id": doc.item_id,
            "url": doc.url,
            "language": doc.language,
            "source_id": doc.source_id,
            "title": fold_text(doc.title),
            "text": fold_text(doc.text),
            "fetched_at": iso(doc.fetched_at),
            "published_at": iso(doc.published_at),
            "score": doc.score,
            "top_category": doc.top_category,
            "model_version": doc.model_version,
            "categories": doc.categories,
            "task_status": doc.task_status,
            "decision": doc.decision,
        }

    def _bulk(self, actions: Iterator[dict[str, Any]], ids: list[int], ok_statuses: set[int]) -> BulkOutcome:
        try:
            _, errors = helpers.bulk(
                self.client,
                actions,
                chunk_size=self.chunk_size,
                raise_on_error=False,
                raise_on_exception=True,
                # 429 (queue full) is retried by the helper with backoff before it gives up.
                max_retries=3,
                initial_backoff=1,
                filter_path=BULK_FILTER_PATH,
            )
        except TransportError as exc:
            raise self._unavailable(exc) from exc
        except ApiError as exc:
            if exc.meta.status >= 500 or exc.meta.status == 429:
                raise self._unavailable(exc) from exc
            raise
        failed: dict[int, str] = {}
        for error in errors if isinstance(errors, list) else []:
            (info,) = error.values()
            if info.get("status") in ok_statuses:
                continue
            reason = info.get("error")
            if isinstance(reason, dict):
                reason = f"{reason.get('type')}: {reason.get('reason')}"
            failed[int(info["_id"])] = f"HTTP {info.get('status')}: {reason}"[:2000]
        return BulkOutcome(acknowledged=[i for i in ids if i not in failed], failed=failed)

    def index_documents(self, documents: Sequence[SearchDocument]) -> BulkOutcome:
        return self.index_prepared(self.prepare_documents(documents))

    def prepare_documents(self, documents: Sequence[SearchDocument]) -> PreparedDocuments:
        """Each document's source, serialised by the client's own JSON serializer (what
        ``helpers.bulk`` would do with it): the drain does this while the previous bulk is still
        being indexed, and the bulk then only sends bytes."""
        latest = {doc.item_id: doc for doc in documents}
        dumps = self.client.transport.serializers.get_serializer("application/json").dumps
        return PreparedDocuments(list(latest), [dumps(self._source(doc)) for doc in latest.values()])

    def index_prepared(self, prepared: PreparedDocuments) -> BulkOutcome:
        if not prepared.item_ids:
            return BulkOutcome()
        self.ensure_index()
        actions = (
            # helpers.bulk passes a ``_source`` that is already bytes through as the document line.
            {"_op_type": "index", "_index": self.index, "_id": str(item_id), "_source": source}
            for item_id, source in zip(prepared.item_ids, prepared.payload, strict=True)
        )
        return self._bulk(actions, prepared.item_ids, ok_statuses=set())

    def delete_documents(self, item_ids: Sequence[int]) -> BulkOutcome:
        if not item_ids:
            return BulkOutcome()
        self.ensure_index()
        ids = list(dict.fromkeys(item_ids))
        actions = ({"_op_type": "delete", "_index": self.index, "_id": str(i)} for i in ids)
        # Deleting a document that is not there is what we wanted anyway.
        return self._bulk(actions, ids, ok_statuses={404})

    # -- reads

    def _text_fields(self) -> list[str]:
        fields = ["title^2", "text"]
        if self.language_analyzers:
            for lang in LANGUAGE_ANALYZERS:
                fields += [f"title.{lang}^2", f"text.{lang}"]
        return fields

    def search(self, query: SearchQuery) -> SearchResult:
        self.ensure_index()
        body = self._search_body(query)
        if body is None:
            return SearchResult(total=0, hits=[])
        response = self._call(self.client.search, index=self.index, **body)
        hits = [_search_hit(hit) for hit in response["hits"]["hits"]]
        return SearchResult(total=response["hits"]["total"]["value"], hits=hits)

    def _search_body(self, query: SearchQuery) -> dict[str, Any] | None:
        """The search request's body; None for a text query without a searchable term (it matches nothing)."""
        filters = _filters(query)
        body: dict[str, Any] = {
            "from": query.offset,
            "size": query.limit,
            "track_total_hits": True,
            "_source": False,
        }
        if query.text is not None and query.text.strip():
            terms = query.terms
            if not terms:
                return None
            must = {
                "multi_match": {
                    "query": " ".join(terms),
                    "fields": self._text_fields(),
                    "type": "cross_fields",
                    "operator": "and",
                }
            }
            body["query"] = {"bool": {"must": [must], "filter": filters}}
            body["sort"] = ["_score", {"item_id": "asc"}]
            body["highlight"] = HIGHLIGHT
        else:
            body["query"] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
            body["sort"] = [{"fetched_at": "desc"}, {"item_id": "desc"}]
        return body

    def refresh(self) -> None:
        self.ensure_index()
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        self.ensure_index()
        return int(self._call(self.client.count, index=self.index)["count"])

    def indexed_ids(self) -> set[int]:
        self.ensure_index()
        try:
            return {
                int(hit["_id"])
                for hit in helpers.scan(self.client, index=self.index, query={"_source": False}, size=2_000)
            }
        except TransportError as exc:
            raise self._unavailable(exc) from exc

    def ping(self) -> bool:
        # The bare distribution has no "GET /" handler, so cluster health is the liveness probe.
        try:
            self.client.options(request_timeout=5).cluster.health()
            return True
        except (TransportError, ApiError):
            return False

    def close(self) -> None:
        self.client.close()
