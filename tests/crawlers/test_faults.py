"""Crawls under faults caused for real: the service is a private server of the test's own, stopped
and started again while a crawler process is working. Nothing may be lost or done twice.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crawlers.runner import CrawlSummary, run_crawl
from saqshy.context import Context, build_context
from saqshy.db.models import ContentItem, JobStatus
from saqshy.db.session import session_scope
from saqshy.search.base import SearchUnavailable
from saqshy.search.elastic import ElasticsearchEngine
from saqshy.search.indexer import pending_count
from saqshy.services.sources import add_source, due_sources
from saqshy.settings import Settings
from tests.crawlers.conftest import FAST
from tests.crawlers.fixture_site import FixtureSite, serve
from tests.crawlers.many_pages import ARTICLES, many_pages
from tests.private_services import PrivateElasticsearch, PrivateRedis, free_port
from tests.processes import saqshy_env
from tests.saqshy.jobs.conftest import RQHarness, job_settings
from tests.saqshy.jobs.sample_jobs import calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAQSHY = str(Path(sys.executable).with_name("saqshy"))  # the installed command; PYTHONPATH picks this checkout
WAIT = 60.0
# A few requests in flight and a slow site: the crawl lasts long enough for the fault to land in it.
SLOW = {**FAST, "CONCURRENT_REQUESTS": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 2}
JOBS = 6
# Long enough that pages in flight come back, and their links are found, while Redis is away.
REDIS_DOWN_SECONDS = 3.0
JOB_SECONDS = 0.5


@pytest.fixture
def slow_site() -> Iterator[FixtureSite]:
    site, server = serve(many_pages(delay=0.5))
    yield site
    server.shutdown()


def _process_env(settings: Settings) -> dict[str, str]:
    """The environment of a Saqshy process configured as ``settings`` (no developer .env applies)."""
    return saqshy_env(
        var_dir=settings.var_dir, models_dir=settings.models_dir, database_url=settings.sqlalchemy_url,
        elasticsearch_url=settings.elasticsearch_url, elasticsearch_index=settings.elasticsearch_index,
        job_backoff_seconds=settings.job_backoff_seconds, job_backoff_max_seconds=settings.job_backoff_max_seconds,
    )


class Server:
    """``saqshy serve`` as an operator runs it on one host: the API, the job pool and the scheduler
    (whose periodic ``search.drain_outbox`` is what catches the index up)."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "serve.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([SAQSHY, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                            cwd=folder, env=_process_env(settings), stdout=log,
                                            stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            assert self.process.poll() is None, self.log_tail()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log_tail()
            time.sleep(0.2)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class CrawlInBackground:
    """``run_crawl`` (a crawler process of its own) from a thread, so the test can act meanwhile."""

    def __init__(self, settings: Settings, names: list[str], **kwargs: Any) -> None:
        self.summary: CrawlSummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(settings, names, kwargs), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings, names: list[str], kwargs: dict[str, Any]) -> None:
        try:
            self.summary = run_crawl(settings, names, timeout=120, **kwargs)
        except BaseException as exc:
            self.error = exc

    def result(self) -> CrawlSummary:
        self.thread.join(150)
        assert self.error is None, self.error
        assert self.summary is not None, "the crawl did not finish"
        return self.summary


def _stored(ctx: Context) -> dict[int, str]:
    with session_scope(ctx.sessions) as session:
        return {item_id: url for item_id, url in session.execute(select(ContentItem.id, ContentItem.url))}


def _indexed(index: ElasticsearchEngine) -> int:
    try:
        return index.count() if index.client.indices.exists(index=index.index) else 0
    except SearchUnavailable:  # created, its shard not started yet
        return 0


def _wait(condition: Any, what: str, timeout: float = WAIT, diagnostics: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout}s\n{diagnostics() if diagnostics else ''}"
        time.sleep(0.2)


def test_elasticsearch_stopped_mid_crawl_the_crawl_goes_on_and_the_index_catches_up(
    slow_site: FixtureSite, tmp_path: Path
) -> None:
    es = PrivateElasticsearch()
    es.launch()
    try:
        settings = Settings(
            _env_file=None,
            var_dir=tmp_path / "var", models_dir=tmp_path / "models", database_url=None, redis_url=None,
            elasticsearch_url=es.url, elasticsearch_index=f"saqshy-test-{uuid.uuid4().hex[:8]}",
            crawler_timeout_seconds=5.0, crawler_allowed_networks="127.0.0.0/8",
            # The catch-up job retries soon after Elasticsearch is back, not minutes later.
            job_backoff_seconds=0.5, job_backoff_max_seconds=2.0,
        )
        ctx = build_context(settings)
        with session_scope(ctx.sessions) as session:
            add_source(session, slow_site.root + "/", "site", policy=settings.address_policy, depth=2, name="many")
        server = Server(settings, tmp_path)
        index = ElasticsearchEngine(es.url, settings.elasticsearch_index, request_timeout=5)
        try:
            server.wait_ready()
            es.wait_ready()
            index.ensure_index()  # ready before the crawl, so its first drain lands (the server would create it)
            index.client.cluster.health(index=index.index, wait_for_status="yellow", timeout="30s")
            crawl = CrawlInBackground(settings, ["many"], overrides=SLOW)

            # Indexing works before the fault: some crawled items reached the index.
            _wait(lambda: _indexed(index) > 0, "no crawled item was indexed before the outage",
                  diagnostics=server.log_tail)
            es.stop()
            stored_at_stop = len(_stored(ctx))

            summary = crawl.result()
            stored = _stored(ctx)
            # The crawl went on into SQL while the index was down, and every article is there.
            assert summary.sources[0].errors == 0, summary
            assert len(stored) > stored_at_stop
            article_urls = {slow_site.root + path for path in ARTICLES}
            assert article_urls <= set(stored.values())
            assert pending_count(ctx.sessions) > 0  # what the index missed waits in the outbox

            es.start()
            _wait(lambda: pending_count(ctx.sessions) == 0, "the outbox did not drain after the restart",
                  diagnostics=server.log_tail)
            index.refresh()
            assert index.indexed_ids() == set(stored)
            assert index.count() == len(stored)
        finally:
            server.stop()
            index.close()
            ctx.close()
    finally:
        es.remove()


def _crawl_settings(tmp_path: Path, redis_url: str) -> Settings:
    """A crawl on SQLite whose frontier is in the Redis at ``redis_url``, under a queue name of its own."""
    return Settings(
        _env_file=None,
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", database_url=None, elasticsearch_url=None,
        redis_url=redis_url, rq_queue=f"saqshy-crawl-{uuid.uuid4().hex[:8]}",
        crawler_timeout_seconds=5.0, crawler_allowed_networks="127.0.0.0/8",
    )


def test_redis_restarted_mid_crawl_and_mid_jobs_both_resume(slow_site: FixtureSite, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path, persistent=True)
    redis.start()
    settings = _crawl_settings(tmp_path, redis.url)
    ctx = build_context(settings)
    jobs = RQHarness(job_settings(settings, rq_queue=f"saqshy-test-{uuid.uuid4().hex[:12]}"), ctx, tmp_path)
    try:
        with session_scope(ctx.sessions) as session:
            add_source(session, slow_site.root + "/", "site", policy=settings.address_policy, depth=2, name="many")
        logs = [jobs.log(f"job{n}") for n in range(JOBS)]
        keys = [jobs.queue.enqueue("test.sleep", {"log": log, "seconds": JOB_SECONDS}) for log in logs]
        jobs.start_worker()
        crawls = [CrawlInBackground(settings, ["many"], overrides=SLOW, crawl_key="fault") for _ in range(2)]

        # Both crawlers have pages behind them and ahead of them, a job is running: Redis restarts.
        _wait(lambda: len(slow_site.counts()) > 15 and bool(calls(logs[0])), "the crawl and the jobs did not start",
              diagnostics=jobs.diagnostics)
        redis.stop()
        time.sleep(REDIS_DOWN_SECONDS)
        redis.start()

        summaries = [crawl.result() for crawl in crawls]
        fetched = slow_site.counts()
        pages = {path: n for path, n in fetched.items() if path != "/robots.txt"}
        twice = {path: n for path, n in pages.items() if n > 1}
        # Only what was in flight when Redis went away may be fetched again.
        assert sum(n - 1 for n in twice.values()) <= 2 * SLOW["CONCURRENT_REQUESTS"], twice
        assert set(ARTICLES) <= set(pages), sorted(set(ARTICLES) - set(pages))
        assert all(s.sources[0].pages > 0 for s in summaries), summaries
        stored = _stored(ctx)
        assert {slow_site.root + path for path in ARTICLES} <= set(stored.values())

        assert jobs.queue.wait_for(keys, WAIT), jobs.diagnostics()
        for key in keys:
            info = jobs.queue.get(key)
            assert info is not None and info.status == JobStatus.SUCCEEDED, (info, jobs.diagnostics())
        assert [[call["event"] for call in calls(log)] for log in logs] == [["start", "end"]] * JOBS
    finally:
        jobs.stop_worker()
        jobs.queue.close()
        jobs.redis.close()
        ctx.close()
        redis.stop()


def test_a_crawl_whose_redis_comes_back_empty_says_it_is_incomplete_and_stays_due(
    slow_site: FixtureSite, tmp_path: Path
) -> None:
    redis = PrivateRedis(tmp_path, persistent=False)  # not as deployed: the frontier is lost
    redis.start()
    settings = _crawl_settings(tmp_path, redis.url)
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            add_source(session, slow_site.root + "/", "site", policy=settings.address_policy, depth=2, name="many")
        crawl = CrawlInBackground(settings, ["many"], overrides=SLOW, crawl_key="lost")
        _wait(lambda: len(slow_site.counts()) > 15, "the crawl did not start")
        redis.stop()
        time.sleep(1.0)
        redis.start()
        summary = crawl.result()

        source = summary.sources[0]
        assert source.counters.get("frontier/lost") == 1, source
        assert source.note is not None and "frontier" in source.note
        assert not set(ARTICLES) <= set(slow_site.counts())  # what the lost frontier held was never fetched
        with session_scope(ctx.sessions) as session:
            assert [s.name for s in due_sources(session)] == ["many"]  # crawled again at the next round
    finally:
        ctx.close()
        redis.stop()
