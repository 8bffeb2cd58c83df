"""Run crawls: in this process (one Twisted reactor, so once per process) or in a child process.

``crawl_in_process`` runs one crawler per source side by side in one reactor, shows live
progress (pages fetched, items new/changed/unchanged, errors) and returns a summary. Twisted's
reactor cannot be restarted, so a program that crawls more than once (tests, a long-lived
worker) uses ``run_crawl``, which runs each crawl in a fresh child process.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.reactor import install_reactor, is_reactor_installed

from crawlers.progress import snapshot
from crawlers.settings import scrapy_settings
from crawlers.spiders import SPIDERS
from saqshy.context import Context, build_context
from saqshy.db.models import SourceKind
from saqshy.db.session import session_scope
from saqshy.gc_tuning import tune_gc
from saqshy.services.sources import (
    due_sources,
    mark_crawled,
    next_crawl_after,
    refresh_discovery,
    resolve_sources,
    telegram_until,
)
from saqshy.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrawlTarget:
    source_id: int
    name: str
    kind: str
    url: str
    max_depth: int
    max_items: int | None
    crawl_every_seconds: int
    # Telegram: the oldest post date to read (the source's read-back limit), None for no limit.
    until: datetime | None = None


@dataclass
class SourceSummary:
    name: str
    counters: dict[str, int]
    finish_reason: str | None
    elapsed_seconds: float
    # What the numbers alone do not say (e.g. why nothing was new), for the person reading them.
    note: str | None = None

    @property
    def pages(self) -> int:
        return self.counters.get("pages", 0)

    @property
    def errors(self) -> int:
        return self.counters.get("errors", 0)


@dataclass
class CrawlSummary:
    sources: list[SourceSummary] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def total(self, counter: str) -> int:
        return sum(s.counters.get(counter, 0) for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlSummary:
        return cls(
            sources=[SourceSummary(**s) for s in data.get("sources", [])],
            elapsed_seconds=data.get("elapsed_seconds", 0.0),
        )


def targets_for(ctx: Context, names: list[str] | None = None) -> list[CrawlTarget]:
    """The named sources, or every enabled source that is due (claimed: its next crawl is moved
    on now, so a crawl started meanwhile, by the scheduler or by hand, does not take it too)."""
    with session_scope(ctx.sessions) as session:
        sources = resolve_sources(session, names) if names else due_sources(session)
        if not names:
            now = datetime.now(UTC)
            for source in sources:
                source.next_crawl_at = next_crawl_after(source, ctx.settings, now)
        return [
            CrawlTarget(
                source_id=s.id,
                name=s.name,
                kind=str(s.kind),
                url=s.url,
                max_depth=s.max_depth,
                max_items=s.max_items,
                crawl_every_seconds=s.crawl_every_seconds,
                until=telegram_until(s) if s.kind == SourceKind.TELEGRAM else None,
            )
            for s in sources
        ]


def read_back_note(target: CrawlTarget, counters: dict[str, int]) -> str | None:
    """Why a Telegram crawl stored nothing: every post it read was older than the read-back window.

    Said only when no post at all fell in the window: a recrawl that finds old posts past the new
    ones is the window doing its job."""
    too_old = counters.get("telegram/too_old", 0)
    in_window = sum(counters.get(f"items/{kind}", 0) for kind in ("new", "changed", "unchanged", "invalid"))
    if not too_old or in_window or target.until is None:
        return None
    return (
        f"nothing new: all {too_old} post(s) read were older than the read-back window "
        f"(posts since {target.until:%Y-%m-%d %H:%M} UTC); widen it with "
        f"`saqshy source read-back {target.name} 180d` (or a date, or all)"
    )


def frontier_lost_note(counters: dict[str, int]) -> str | None:
    if not counters.get("frontier/lost"):
        return None
    return ("incomplete: Redis lost the shared frontier (it restarted without an append-only file); "
            "the pages not fetched yet were dropped, and the source stays due to be crawled again")


def _progress_table(rows: list[tuple[str, dict[str, int]]], started: float) -> Table:
    table = Table(title=f"crawling ({time.monotonic() - started:.0f}s)", expand=False)
    for column in ("source", "pages", "new", "changed", "unchanged", "errors"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, counters in rows:
        table.add_row(
            name,
            str(counters.get("pages", 0)),
            str(counters.get("items/new", 0)),
            str(counters.get("items/changed", 0)),
            str(counters.get("items/unchanged", 0)),
            str(counters.get("errors", 0)),
        )
    return table


def summary_table(summary: CrawlSummary) -> Table:
    table = Table(title=f"crawl summary ({summary.elapsed_seconds:.1f}s)")
    columns = ("source", "pages", "new", "changed", "unchanged", "invalid", "errors", "error kinds", "media", "end")
    for column in columns:
        table.add_column(column)
    for source in summary.sources:
        kinds = ", ".join(f"{k[7:]}={v}" for k, v in sorted(source.counters.items()) if k.startswith("errors/") and v)
        # Images: fetched, stored, skipped by type, too big, bombs, robots, errors (crawlers.media).
        media = ", ".join(f"{k[6:]}={v}" for k, v in sorted(source.counters.items()) if k.startswith("media/") and v)
        table.add_row(
            source.name,
            str(source.pages),
            str(source.counters.get("items/new", 0)),
            str(source.counters.get("items/changed", 0)),
            str(source.counters.get("items/unchanged", 0)),
            str(source.counters.get("items/invalid", 0)),
            str(source.errors),
            kinds or "-",
            media or "-",
            source.finish_reason or "-",
        )
    return table


def crawl_in_process(
    settings: Settings,
    names: list[str] | None = None,
    *,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    crawl_key: str | None = None,
    console: Console | None = None,
) -> CrawlSummary:
    """Crawl the named (or all due) sources in this process; the reactor is started here."""
    ctx = build_context(settings)
    try:
        targets = targets_for(ctx, names)
        summary = CrawlSummary()
        if not targets:
            return summary
        started = time.monotonic()
        base = scrapy_settings(settings, overrides=overrides)
        # With the live table on, Scrapy's log stays off the terminal's root handler.
        base.set("LOG_INSTALL_ROOT_HANDLER", not progress, priority="cmdline")
        process = CrawlerProcess(base)
        if not is_reactor_installed():
            install_reactor(base["TWISTED_REACTOR"], base["ASYNCIO_EVENT_LOOP"])
        crawlers, redis_keys = _queue_crawlers(process, base, ctx, settings, targets, crawl_key)
        _run_reactor(process, crawlers, started, console=console, progress=progress)
        summary.elapsed_seconds = time.monotonic() - started
        now = datetime.now(UTC)
        summary.sources.extend(_source_summary(target, crawler) for target, crawler in crawlers)
        _record_crawled(ctx, settings, targets, summary, now)
        if redis_keys and settings.redis_url:
            _expire(settings.redis_url, redis_keys)
        return summary
    finally:
        ctx.close()


Crawlers = list[tuple[CrawlTarget, Crawler]]


def _queue_crawlers(
    process: CrawlerProcess,
    base: ScrapySettings,
    ctx: Context,
    settings: Settings,
    targets: list[CrawlTarget],
    crawl_key: str | None,
) -> tuple[Crawlers, list[str]]:
    """One crawler per target, queued on the process; returns them and the Redis keys they share."""
    crawlers: Crawlers = []
    redis_keys: list[str] = []
    for target in targets:
        crawler_settings = base.copy()
        if settings.redis_url:
            redis_keys += _share_frontier(crawler_settings, target, crawl_key)
        crawler = Crawler(SPIDERS[target.kind], crawler_settings)
        crawler.saqshy_context = ctx  # type: ignore[attr-defined]
        crawlers.append((target, crawler))
        spider_args: dict[str, Any] = {}
        if target.kind == SourceKind.TELEGRAM:
            spider_args["until"] = target.until
        process.crawl(
            crawler,
            url=target.url,
            source_id=target.source_id,
            max_depth=target.max_depth,
            max_items=target.max_items,
            **spider_args,
        )
    return crawlers, redis_keys


def _share_frontier(crawler_settings: ScrapySettings, target: CrawlTarget, crawl_key: str | None) -> list[str]:
    """Point a crawler at the Redis frontier of this source's current crawl; returns its keys."""
    key = crawl_key or f"{int(time.time() // target.crawl_every_seconds)}"
    prefix = f"saqshy:crawl:{target.source_id}:{key}"
    crawler_settings.set("SCHEDULER_QUEUE_KEY", f"{prefix}:requests", priority="cmdline")
    crawler_settings.set("SCHEDULER_DUPEFILTER_KEY", f"{prefix}:dupefilter", priority="cmdline")
    crawler_settings.set("SAQSHY_SHARED_CRAWL_KEY", prefix, priority="cmdline")
    return [f"{prefix}:requests", f"{prefix}:dupefilter", f"{prefix}:frontier"]


def _run_reactor(
    process: CrawlerProcess, crawlers: Crawlers, started: float, *, console: Console | None, progress: bool
) -> None:
    """Run every queued crawl to its end, with a live progress table when asked."""

    def rows() -> list[tuple[str, dict[str, int]]]:
        return [(t.name, snapshot(c.stats)) for t, c in crawlers if c.stats is not None]

    live: Live | None = None
    if progress:
        from twisted.internet import task

        live = Live(_progress_table(rows(), started), console=console or Console(stderr=True), refresh_per_second=2)
        live.start()
        ticker = task.LoopingCall(lambda: live.update(_progress_table(rows(), started)) if live else None)
        ticker.start(0.5, now=False)
    tune_gc()
    try:
        process.start()
    finally:
        if live is not None:
            live.update(_progress_table(rows(), started))
            live.stop()


def _source_summary(target: CrawlTarget, crawler: Crawler) -> SourceSummary:
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    start_time, finish_time = stats.get("start_time"), stats.get("finish_time")
    elapsed = (finish_time - start_time).total_seconds() if start_time and finish_time else 0.0
    counters = snapshot(crawler.stats) if crawler.stats is not None else {}
    note = frontier_lost_note(counters) or read_back_note(target, counters)
    if note:
        logger.warning("%s: %s", target.name, note)
    return SourceSummary(
        name=target.name,
        counters=counters,
        finish_reason=stats.get("finish_reason"),
        elapsed_seconds=elapsed,
        note=note,
    )


def _record_crawled(
    ctx: Context, settings: Settings, targets: list[CrawlTarget], summary: CrawlSummary, now: datetime
) -> None:
    """Mark the crawled sources done, then roll up their risk and suggest candidate sources."""
    incomplete = {s.name for s in summary.sources if s.counters.get("frontier/lost")}
    with session_scope(ctx.sessions) as session:
        for target in targets:
            if target.name not in incomplete:  # a crawl that lost its frontier stays due
                mark_crawled(session, target.source_id, settings, now)
    try:
        with session_scope(ctx.sessions) as session:
            changed, candidates = refresh_discovery(session, settings)
        if changed or candidates:
            logger.info("risk changed for %d sources; %d candidate sources suggested", len(changed),
                        len(candidates))
    except Exception:  # the crawl's items are stored; a failed roll-up is retried next crawl
        logger.exception("risk roll-up and candidate suggestion failed")


def _expire(redis_url: str, keys: list[str]) -> None:
    import redis

    try:
        client = redis.Redis.from_url(redis_url)
        for key in keys:
            client.expire(key, 24 * 3600)
    except redis.RedisError as exc:
        logger.warning("could not set expiry on crawl keys: %s", exc)


def _child(connection: Connection, settings: Settings, names: list[str] | None, kwargs: dict[str, Any]) -> None:
    try:
        summary = crawl_in_process(settings, names, **kwargs)
        connection.send(("ok", summary.to_dict()))
    except BaseException as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        connection.close()


def run_crawl(
    settings: Settings,
    names: list[str] | None = None,
    *,
    progress: bool = False,
    overrides: dict[str, Any] | None = None,
    crawl_key: str | None = None,
    timeout: float | None = None,
) -> CrawlSummary:
    """Run ``crawl_in_process`` in a fresh child process (the reactor starts once per process)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    kwargs = {"progress": progress, "overrides": overrides, "crawl_key": crawl_key}
    child = context.Process(target=_child, args=(sender, settings, names, kwargs), name="saqshy-crawl")
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TimeoutError(f"crawl did not finish within {timeout}s")
        status, payload = receiver.recv()
    except EOFError:
        raise RuntimeError(f"crawl process died (exit code {child.exitcode})") from None
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.terminate()
    if status != "ok":
        raise RuntimeError(f"crawl failed: {payload}")
    return CrawlSummary.from_dict(payload)
