"""Item pipelines: extract (worker processes) → store (batched, in a writer thread) → score job.

``ExtractPipeline`` turns raw HTML into title, main text, language and SimHash in worker
processes, so the reactor keeps fetching while pages are analysed. ``StorePipeline`` upserts
items by canonical URL through ``saqshy.services.items`` (which writes the search outbox in the
same transaction), assigns near-duplicate clusters through ``saqshy.services.clustering``,
records outlinks, and enqueues a ``score_items`` job per batch of new or changed items on the
jobs port. Nothing here waits for the classifier: the crawl only records the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import uuid
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from sqlalchemy.orm import Session

from crawlers.evidence import Evidence, FetchRef, close_writers
from crawlers.extraction.page import analyse_batch, analyse_item, warm_up
from crawlers.items import ContentItem
from crawlers.media import store_item_media
from crawlers.progress import count_error
from saqshy.context import Context, build_context
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.jobs import names
from saqshy.jobs.base import JobQueue
from saqshy.services import clustering
from saqshy.services.items import IngestResult, ingest_item, ingest_items
from saqshy.services.media import MediaRecord
from saqshy.services.sources import record_outlinks
from saqshy.settings import Settings
from saqshy.simhash import NearDupIndex, to_signed

logger = logging.getLogger(__name__)

SCORE_JOB = names.SCORE_ITEMS


def saqshy_settings(crawler: Crawler) -> Settings:
    value = crawler.settings.get("SAQSHY_SETTINGS")
    if isinstance(value, Settings):
        return value
    from saqshy.settings import get_settings

    return get_settings()


class ExtractPipeline:
    def __init__(
        self,
        processes: int,
        settings: Settings,
        stats: StatsCollector,
        evidence_dir: str,
        prefix: str,
        batch_size: int = 64,
        batch_delay: float = 0.25,
    ):
        self.processes = processes
        self.settings = settings
        self.stats = stats
        self.evidence_dir = evidence_dir
        self.evidence_prefix = prefix
        self.pool: Executor | None = None
        self.batch_size = max(1, batch_size)
        self.batch_delay = batch_delay
        self._batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._batch_timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        return cls(
            crawler.settings.getint("SAQSHY_EXTRACT_PROCESSES"),
            saqshy_settings(crawler),
            crawler.stats,
            crawler.settings.get("SAQSHY_EVIDENCE_DIR") or str(saqshy_settings(crawler).evidence_dir),
            f"saqshy-{crawler.spidercls.name}",
            crawler.settings.getint("SAQSHY_EXTRACT_BATCH", 64),
            crawler.settings.getfloat("SAQSHY_EXTRACT_BATCH_SECONDS", 0.25),
        )

    def open_spider(self) -> None:
        if self.processes > 0:
            self.pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=warm_up
            )

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        close_writers()

    async def _analyse(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.pool is None:
            return analyse_item(payload)
        # Items go to the workers in batches: one submission per item would cost the reactor a
        # pipe write and a thread wake-up each, as much as the work saved. The batches must be
        # large: the executor queues at most one batch beyond those being worked on, and each
        # hand-over needs its manager thread to win the GIL (and, on a busy machine, a CPU),
        # so small batches leave the worker idle between them.
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._batch.append((payload, future))
        if len(self._batch) >= self.batch_size:
            self._submit_batch()
        elif self._batch_timer is None:
            self._batch_timer = asyncio.get_running_loop().call_later(self.batch_delay, self._submit_batch)
        return await future

    def _submit_batch(self) -> None:
        if self._batch_timer is not None:
            self._batch_timer.cancel()
            self._batch_timer = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        payloads = [payload for payload, _ in batch]
        futures = [future for _, future in batch]
        if self.pool is None:
            self._resolve(futures, payloads, None)
            return
        self.stats.inc_value("saqshy/extract_batches")
        try:
            submitted = self.pool.submit(analyse_batch, payloads)
        except (BrokenProcessPool, RuntimeError):
            self._resolve(futures, payloads, None)
            return
        wrapped = asyncio.wrap_future(submitted)
        wrapped.add_done_callback(lambda done: self._resolve(futures, payloads, done))

    def _resolve(
        self, futures: list[asyncio.Future[dict[str, Any]]], payloads: list[dict[str, Any]], done: Any
    ) -> None:
        if done is not None and not done.cancelled() and done.exception() is None:
            for future, result in zip(futures, done.result(), strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            return
        if done is not None and isinstance(done.exception(), BrokenProcessPool) and self.pool is not None:
            # A worker died (out of memory on a hostile page): go on in-line.
            logger.error("extraction worker died; extracting in the crawl process from now on")
            count_error(self.stats, "extract_worker")
            self.pool = None
        for future, payload in zip(futures, payloads, strict=True):
            if future.done():
                continue
            try:
                future.set_result(analyse_item(payload))
            except Exception as exc:
                future.set_exception(exc)

    async def process_item(self, item: ContentItem) -> ContentItem:
        if item.get("is_binary"):
            return item
        body = item.get("body")
        ref: FetchRef | None = item.get("fetch")
        payload: dict[str, Any] = {
            "body": body,
            "text": item.get("text"),
            "url": item["url"],
            "content_type": item.get("content_type"),
            "max_text_chars": self.settings.max_text_chars,
            "max_title_chars": self.settings.max_title_chars,
        }
        if body is not None:
            del item["body"]
        first = ref is not None and ref.future is None
        if ref is not None and first:
            # The first item of a response writes its evidence; the others wait for it.
            payload.update(fetch=ref.fetch, evidence_dir=self.evidence_dir, evidence_prefix=self.evidence_prefix)
            ref.future = asyncio.get_running_loop().create_future()
        try:
            fields = await self._analyse(payload)
        except BaseException as exc:
            if ref is not None and first:
                ref.future.set_exception(exc)
            raise
        if ref is not None:
            if first:
                ref.future.set_result(fields["evidence"])
            evidence: Evidence = fields.get("evidence") or await ref.future
            item["evidence"] = evidence
            item["sha256"] = evidence.sha256
            item["size_bytes"] = evidence.size
            del item["fetch"]
        extra = dict(item.get("extra") or {})
        if body is not None:
            item["text"] = fields["text"]
            if not item.get("title"):
                item["title"] = fields["title"]
            extra["encoding"] = fields["encoding"]
            if fields["truncated"]:
                extra["truncated"] = True
        elif len(item.get("text") or "") > self.settings.max_text_chars:
            item["text"] = item["text"][: self.settings.max_text_chars]
            extra["truncated"] = True
        item["extra"] = extra
        item["language"] = fields["language"]
        item["simhash"] = fields["simhash"]
        item["text_sha256"] = fields["text_sha256"]
        return item


@dataclass
class BatchResult:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    invalid: int = 0
    clustered: int = 0
    score_jobs: int = 0
    score_job_errors: int = 0
    media_rows: int = 0
    media_errors: int = 0
    errors: list[str] = field(default_factory=list)


def item_values(item: ContentItem) -> dict[str, Any]:
    """The ``ItemIn`` fields of a crawled item."""
    evidence: Evidence | None = item.get("evidence")
    simhash = item.get("simhash")
    return {
        "url": item["url"],
        "canonical_url": item.get("canonical_url"),
        "source_id": item.get("source_id"),
        "post_id": item.get("post_id"),
        "author": item.get("author"),
        "published_at": item.get("published_at"),
        "fetched_at": item.get("fetched_at"),
        "language": item.get("language") or "other",
        "title": item.get("title"),
        "text": item.get("text") or "",
        "content_type": item.get("content_type"),
        "is_binary": bool(item.get("is_binary")),
        "size_bytes": item.get("size_bytes"),
        "sha256": item.get("sha256"),
        "simhash": to_signed(simhash) if simhash is not None else None,
        "evidence_path": evidence.path if evidence else None,
        "evidence_offset": evidence.offset if evidence else None,
        "evidence_length": evidence.length if evidence else None,
        "server_ip": item.get("server_ip"),
        "extra": item.get("extra") or {},
    }


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats = crawler.stats
        self.settings = saqshy_settings(crawler)
        # The runner shares its context (engine, pools) with the crawlers it starts.
        context = getattr(crawler, "saqshy_context", None)
        self._own_context = not isinstance(context, Context)
        self.ctx: Context = context if isinstance(context, Context) else build_context(self.settings)
        self.batch_size = crawler.settings.getint("SAQSHY_STORE_BATCH")
        self.flush_seconds = crawler.settings.getfloat("SAQSHY_STORE_FLUSH_SECONDS")
        self.score_batch = crawler.settings.getint("SAQSHY_SCORE_BATCH")
        self.index_size = crawler.settings.getint("SAQSHY_NEARDUP_INDEX_SIZE")
        self.index = NearDupIndex(crawler.settings.getint("SAQSHY_NEARDUP_MAX_DISTANCE"))
        # The highest item id the index has read from SQL: each batch first reads the items
        # stored since, so near-duplicates stored by other crawler processes are found too.
        self._index_seen_id = 0
        self.buffer: list[ContentItem] = []
        self.pending: set[asyncio.Future[BatchResult]] = set()
        self.outlinks: Counter[tuple[str, str]] = Counter()
        self.score_ids: list[int] = []
        # One writer thread: batches commit in order, and the reactor never waits on SQL.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="saqshy-store")
        self._ticker: asyncio.Task[None] | None = None
        self.jobs = self._job_queue(crawler)
        self.run_id = uuid.uuid4().hex[:16]
        self._score_batches = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _job_queue(self, crawler: Crawler) -> JobQueue:
        for module in crawler.settings.getlist("SAQSHY_JOB_MODULES"):
            importlib.import_module(module)
        if self.settings.redis_url:
            return self.ctx.jobs
        # Embedded mode: record the jobs in SQL but run none of them here, so the classifier
        # never loads into a crawl process; the serving process picks them up (requeue_pending).
        from saqshy.jobs.inprocess import InProcessJobQueue

        return InProcessJobQueue(self.settings, self.ctx.sessions, autostart=False)

    async def open_spider(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self._load_index)
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            if self.buffer:
                self._flush()

    async def process_item(self, item: ContentItem) -> ContentItem:
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self._flush()
        return item

    async def close_spider(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.buffer:
            self._flush()
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, self._finish)
        self._count(result)
        self.executor.shutdown(wait=True)
        if not self.settings.redis_url:
            self.jobs.close()
        if self._own_context:
            self.ctx.close()

    # --- reactor side ------------------------------------------------------------------------

    def _flush(self) -> None:
        batch, self.buffer = self.buffer, []
        future = asyncio.get_running_loop().run_in_executor(self.executor, self._write, batch)
        self.pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[BatchResult]) -> None:
        self.pending.discard(future)
        try:
            result = future.result()
        except Exception as exc:  # the whole batch failed (the store is down): count, go on
            logger.exception("storing a batch of items failed")
            count_error(self.stats, "store")
            self.stats.set_value("saqshy/last_store_error", str(exc)[:500])
            return
        self._count(result)

    def _count(self, result: BatchResult) -> None:
        for name in ("new", "changed", "unchanged", "invalid"):
            self.stats.inc_value(f"saqshy/items/{name}", getattr(result, name))
        self.stats.inc_value("saqshy/items/clustered", result.clustered)
        self.stats.inc_value("saqshy/score_jobs", result.score_jobs)
        if result.media_rows or result.media_errors:
            self.stats.inc_value("saqshy/media/rows", result.media_rows)
            self.stats.inc_value("saqshy/media/store_errors", result.media_errors)
        for _ in range(result.invalid):
            count_error(self.stats, "invalid_item")
        for _ in range(result.score_job_errors):
            count_error(self.stats, "score_job")

    # --- writer thread -----------------------------------------------------------------------

    def _load_index(self) -> None:
        with session_scope(self.ctx.sessions) as session:
            self._index_seen_id = clustering.load_recent(session, self.index, self.index_size)

    def _refresh_index(self, session: Session) -> None:
        """Read the items stored since the last look before this batch's own rows are written, so
        that they are clustered once, in ``_write``."""
        self._index_seen_id = clustering.add_stored_since(session, self.index, self._index_seen_id)

    def _ingest(self, session: Session, values: list[dict[str, Any]], result: BatchResult) -> list[IngestResult | None]:
        try:
            with session.begin_nested():
                return list(ingest_items(session, values, self.settings))
        except InvalidInput:
            pass
        # One bad item must not sink its batch: store the others one by one.
        results: list[IngestResult | None] = []
        for value in values:
            try:
                with session.begin_nested():
                    results.append(ingest_item(session, value, self.settings))
            except InvalidInput as exc:
                result.invalid += 1
                logger.warning("item refused: %s", exc)
                results.append(None)
        return results

    def _write(self, batch: list[ContentItem]) -> BatchResult:
        result = BatchResult()
        by_canonical: dict[str, dict[str, Any]] = {}
        media: dict[str, list[MediaRecord]] = {}
        for item in batch:
            values = item_values(item)
            by_canonical[values["canonical_url"] or values["url"]] = values
            if item.get("media"):
                media[values["canonical_url"] or values["url"]] = item["media"]
            for target, kind in item.get("outlinks") or ():
                if values["source_id"] is not None:
                    self.outlinks[(target, kind)] += 1
        values_list = list(by_canonical.values())
        score: list[int] = []
        with session_scope(self.ctx.sessions) as session:
            self._refresh_index(session)
            stored = self._ingest(session, values_list, result)
            clusters: dict[int, int] = {}
            for value, outcome in zip(values_list, stored, strict=True):
                if outcome is None:
                    continue
                if outcome.created:
                    result.new += 1
                elif outcome.text_changed:
                    result.changed += 1
                else:
                    result.unchanged += 1
                    continue
                item_id = outcome.item_id
                cluster_id = clustering.assign_cluster(session, self.index, item_id, value["simhash"], value["text"])
                if cluster_id is not None:
                    clusters[item_id] = cluster_id
                if cluster_id is not None and cluster_id != item_id:
                    result.clustered += 1
                if value["text"] and not value["is_binary"]:
                    score.append(outcome.item_id)
            clustering.save_clusters(session, clusters)
            if media:  # after ingest, in its transaction; a page without images never gets here
                result.media_rows, result.media_errors = store_item_media(session, values_list, stored, media)
        self.score_ids.extend(score)
        while len(self.score_ids) >= self.score_batch:
            chunk, self.score_ids = self.score_ids[: self.score_batch], self.score_ids[self.score_batch :]
            self._enqueue_score(chunk, result)
        return result

    def _enqueue_score(self, item_ids: list[int], result: BatchResult) -> None:
        try:
            # A key per crawl and batch: the same ids must be scored again when their text changes
            # in a later crawl, which a key derived from the arguments alone would skip.
            self._score_batches += 1
            key = f"{SCORE_JOB}:crawl-{self.run_id}:{self._score_batches}"
            self.jobs.enqueue(SCORE_JOB, {"item_ids": item_ids}, key=key)
            result.score_jobs += 1
        except Exception as exc:  # the items are stored; their scoring can be queued again later
            result.score_job_errors += 1
            logger.error("could not enqueue %s for %d items: %s", SCORE_JOB, len(item_ids), exc)

    def _finish(self) -> BatchResult:
        result = BatchResult()
        if self.score_ids:
            chunk, self.score_ids = self.score_ids, []
            self._enqueue_score(chunk, result)
        if self.outlinks:
            by_source: dict[int, Counter[tuple[str, str]]] = {}
            spider = self.crawler.spider
            source_id = getattr(spider, "source_id", None)
            if source_id is not None:
                by_source[source_id] = self.outlinks
            with session_scope(self.ctx.sessions) as session:
                for sid, links in by_source.items():
                    record_outlinks(session, sid, links)
            self.stats.set_value("saqshy/outlinks", len(self.outlinks))
        return result
