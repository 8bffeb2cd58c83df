"""Distributed mode: two crawler processes on one real Redis split one crawl of the fixture site."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crawlers.runner import run_crawl
from saqshy.context import build_context
from saqshy.db.models import ContentItem
from saqshy.db.session import session_scope
from saqshy.services.sources import add_source
from saqshy.settings import Settings
from tests.crawlers.conftest import FAST
from tests.crawlers.fixture_site import FixtureSite
from tests.services import SERVICES, port_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server when the binary is installed, else the configured test Redis."""
    binary = shutil.which("redis-server")
    if binary is None:
        if not port_open(SERVICES.test_redis_url, 6379):
            pytest.skip(f"no redis-server binary and no Redis at {SERVICES.test_redis_url}")
        yield SERVICES.test_redis_url
        return
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not port_open(url, port):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_two_processes_fetch_every_page_exactly_once(site: FixtureSite, redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, var_dir=tmp_path / "var", redis_url=redis_url, database_url=None, crawler_timeout_seconds=3.0,
        crawler_allowed_networks="127.0.0.0/8",
    )
    ctx = build_context(settings, migrate=True)
    with session_scope(ctx.sessions) as session:
        add_source(session, site.root + "/", "site", policy=settings.address_policy, depth=2, name="shared")
    before = site.counts()
    # Slow enough that the second process joins while the first is still crawling.
    # Few requests in flight per process, so the frontier stays in Redis for both to take from.
    overrides = {**FAST, "CONCURRENT_REQUESTS": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 2, "DOWNLOAD_DELAY": 0.5}
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(run_crawl, settings, ["shared"], overrides=overrides, crawl_key="test-run", timeout=120)
            for _ in range(2)
        ]
        summaries = [f.result() for f in futures]
    fetched = site.counts() - before
    pages = {path: n for path, n in fetched.items() if path != "/robots.txt"}
    assert pages, "nothing was fetched"
    assert all(n == 1 for n in pages.values()), {p: n for p, n in pages.items() if n > 1}
    assert "/deep" in pages  # depth 2 this time
    per_process = [s.sources[0].pages for s in summaries]
    assert all(n > 0 for n in per_process), per_process  # both took part
    # Fetches that got no response (timeout, size cap) are errors, not pages.
    assert sum(per_process) + sum(s.sources[0].errors for s in summaries) >= len(pages)
    with session_scope(ctx.sessions) as session:
        items = session.scalar(select(func.count()).select_from(ContentItem))
    assert items == sum(s.sources[0].counters["items/new"] for s in summaries)
    ctx.close()
