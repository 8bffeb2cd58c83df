from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawlers.runner import CrawlSummary, SourceSummary, run_crawl
from saqshy.context import Context, build_context
from saqshy.db.models import ContentItem, Media
from saqshy.db.session import session_scope
from saqshy.services.sources import add_source
from saqshy.settings import Settings
from tests.crawlers.fixture_site import FixtureSite, serve

# Fast, deterministic crawls of a local server: no politeness delays, no retries.
FAST: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RETRY_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "SAQSHY_EXTRACT_PROCESSES": 0,
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="session")
def site() -> Iterator[FixtureSite]:
    fixture, server = serve()
    yield fixture
    server.shutdown()


@pytest.fixture
def crawl_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"crawler_timeout_seconds": 1.0, "crawler_allowed_networks": "127.0.0.0/8"})


# A source to crawl: its path on the fixture site, its kind, and ``add_source``'s options (a name among them).
SourceSpec = tuple[str, str, dict[str, Any]]


@dataclass
class Crawled:
    """A fixture site crawled once into a fresh store: what it stored, and the requests it made by path."""

    settings: Settings
    ctx: Context
    summary: CrawlSummary
    requests: dict[str, int]
    root: str

    def source(self, name: str) -> SourceSummary:
        return next(s for s in self.summary.sources if s.name == name)

    def items(self, **filters: object) -> list[ContentItem]:
        with session_scope(self.ctx.sessions) as session:
            query = select(ContentItem).order_by(ContentItem.id)
            for name, value in filters.items():
                query = query.where(getattr(ContentItem, name) == value)
            return list(session.scalars(query))

    def item(self, path: str, root: str) -> ContentItem:
        found = [i for i in self.items() if i.canonical_url == root + path]
        assert len(found) == 1, f"{path}: {[i.canonical_url for i in self.items()]}"
        return found[0]

    def media(self, path: str) -> list[Media]:
        with session_scope(self.ctx.sessions) as session:
            item = session.scalars(select(ContentItem).where(ContentItem.url.like(f"%{path}"))).one()
            return list(session.scalars(select(Media).where(Media.item_id == item.id).order_by(Media.position)))

    def by_path(self, path: str) -> dict[str, Media]:
        return {row.url.removeprefix(self.root): row for row in self.media(path)}


@contextmanager
def crawl(
    site: FixtureSite, var: Path, sources: Sequence[SourceSpec], *, timeout_seconds: float
) -> Iterator[Crawled]:
    """Add ``sources`` to a fresh store and crawl them once, fast."""
    settings = Settings(
        _env_file=None, var_dir=var, redis_url=None, database_url=None, crawler_timeout_seconds=timeout_seconds,
        crawler_allowed_networks="127.0.0.0/8",  # the fixture site
    )
    ctx = build_context(settings)
    with session_scope(ctx.sessions) as session:
        for path, kind, options in sources:
            add_source(session, site.root + path, kind, policy=settings.address_policy, **options)
    before = site.counts()
    summary = run_crawl(settings, [options["name"] for _, _, options in sources], overrides=FAST, timeout=120)
    try:
        yield Crawled(settings, ctx, summary, dict(site.counts() - before), site.root)
    finally:
        ctx.close()
