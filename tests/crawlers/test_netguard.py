"""The crawl's address policy at connection time, end to end against real local servers.

Two servers share one port: an "internal service" on 127.0.0.1 that must never be reached, and
a "public site" on 127.0.0.2, the one range these crawls allow (it stands for the internet).
Every way the public site can point at the internal one (redirects to literals in every
spelling, to a name, a sitemap, robots.txt, images, a DNS answer that changes) is refused,
counted as ``errors/address_refused`` and logged; the internal service sees no request at all.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawlers.runner import CrawlSummary, crawl_in_process, run_crawl
from saqshy.context import Context, build_context
from saqshy.db.models import ContentItem, Media, MediaStatus
from saqshy.db.session import session_scope
from saqshy.services.sources import add_source
from saqshy.settings import Settings
from tests.crawlers.conftest import FAST
from tests.crawlers.fixture_site import EN_TEXT, FixtureSite, Page, _ok, html_page, paragraphs, serve

pytestmark = pytest.mark.slow

PUBLIC = "127.0.0.2"
ALLOWED = f"{PUBLIC}/32"

# Every spelling of "somewhere private" a redirect may use; {port} is the internal service's.
PRIVATE_TARGETS = {
    "loopback": "http://127.0.0.1:{port}/secret",
    "hex": "http://0x7f000001:{port}/secret",
    "decimal": "http://2130706433:{port}/secret",
    "ipv6": "http://[::1]:{port}/secret",
    "mapped": "http://[::ffff:127.0.0.1]:{port}/secret",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "name": "http://localhost:{port}/secret",
}


@dataclass
class Servers:
    public: FixtureSite
    internal: FixtureSite
    port: int


def _internal_routes(root: str) -> dict[str, Any]:
    secret = _ok(html_page("Internal admin", paragraphs("internal service: never crawl me. " + EN_TEXT)))
    return {"/secret": secret, "/robots.txt": secret, "/sitemap.xml": secret, "/secret.png": secret}


def _public_routes(port: int) -> Any:
    def routes(root: str) -> dict[str, Page]:
        links = "".join(f'<a href="/r/{name}">{name}</a> ' for name in PRIVATE_TARGETS)
        images = (
            f'<img src="http://127.0.0.1:{port}/secret.png"><img src="http://169.254.169.254/latest/x.png">'
        )
        result: dict[str, Page] = {
            "/": _ok(html_page("Public home", paragraphs(EN_TEXT) + links + images)),
            # robots.txt and the sitemap both redirect inside.
            "/robots.txt": (302, {"Location": f"http://[::ffff:127.0.0.1]:{port}/robots.txt"}, b""),
            "/sitemap.xml": (302, {"Location": f"http://127.0.0.1:{port}/sitemap.xml"}, b""),
        }
        for name, target in PRIVATE_TARGETS.items():
            result[f"/r/{name}"] = (302, {"Location": target.format(port=port)}, b"")
        return result

    return routes


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    internal, internal_server = serve(_internal_routes)
    port = int(internal_server.server_address[1])
    public, public_server = serve(_public_routes(port), address=(PUBLIC, port))
    yield Servers(public, internal, port)
    public_server.shutdown()
    internal_server.shutdown()


def _settings(var: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=var, redis_url=None, database_url=None, crawler_timeout_seconds=3.0,
        crawler_allowed_networks=ALLOWED,
    )


@dataclass
class Crawled:
    ctx: Context
    summary: CrawlSummary


@pytest.fixture(scope="module")
def crawled(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    settings = _settings(tmp_path_factory.mktemp("netguard") / "var")
    ctx = build_context(settings)
    with session_scope(ctx.sessions) as session:
        add_source(session, servers.public.root + "/", "site", policy=settings.address_policy, depth=1, name="public")
    summary = run_crawl(settings, ["public"], overrides=FAST, timeout=120)
    yield Crawled(ctx, summary)
    ctx.close()


def test_the_internal_service_is_never_reached(crawled: Crawled, servers: Servers) -> None:
    assert servers.internal.requests == []
    fetched = servers.public.counts()
    assert fetched["/"] == 1 and all(fetched[f"/r/{name}"] == 1 for name in PRIVATE_TARGETS)


def test_every_refusal_is_counted_as_an_error(crawled: Crawled) -> None:
    counters = crawled.summary.sources[0].counters
    # Seven redirects, the sitemap, two images, and robots.txt twice (Scrapy's robots.txt check and
    # the spider's own look for sitemaps in it): each refused request counted once, none retried.
    assert counters["errors/address_refused"] == len(PRIVATE_TARGETS) + 5, counters
    assert counters["errors"] >= counters["errors/address_refused"]
    # Refused before a connection: no DNS or connection error for any of them.
    assert not counters.get("errors/dns") and not counters.get("errors/connection"), counters


def test_refused_images_are_recorded_with_the_reason(crawled: Crawled, servers: Servers) -> None:
    with session_scope(crawled.ctx.sessions) as session:
        home = session.scalars(select(ContentItem).where(ContentItem.url == servers.public.root + "/")).one()
        media = list(session.scalars(select(Media).where(Media.item_id == home.id)))
        assert len(media) == 2
        assert all(m.status == MediaStatus.ERROR and "not a public address" in (m.detail or "") for m in media)
        # Nothing of the internal service became an item.
        texts = list(session.scalars(select(ContentItem.text)))
        assert not any("internal service" in (text or "") for text in texts)


def test_refusals_are_logged(crawled: Crawled, servers: Servers, tmp_path: Path) -> None:
    # The summary says how many; the log says which and why.
    settings = _settings(tmp_path / "var")
    ctx = build_context(settings)
    with session_scope(ctx.sessions) as session:
        add_source(session, servers.public.root + "/r/hex", "site", policy=settings.address_policy, name="hex")
    ctx.close()
    log = tmp_path / "crawl.log"
    summary = run_crawl(settings, ["hex"], overrides={**FAST, "LOG_FILE": str(log)}, timeout=120)
    assert summary.sources[0].counters["errors/address_refused"] >= 1
    assert f"refused http://0x7f000001:{servers.port}/secret: 0x7f000001 resolves to 127.0.0.1" in log.read_text()


# --- DNS rebinding ------------------------------------------------------------------------------


def _crawl_with_fake_dns(
    settings: Settings, name: str, answers: dict[str, list[list[str]]], connection: Connection
) -> None:
    """In a fresh process: the OS resolver step answers from ``answers`` (the last answer repeats)."""
    from saqshy import netpolicy

    queues = {host: list(replies) for host, replies in answers.items()}
    real = netpolicy.resolve_host

    def fake(host: str) -> list[str]:
        queue = queues.get(host)
        if queue is None:
            return real(host)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    netpolicy.resolve_host = fake
    summary = crawl_in_process(settings, [name], progress=False, overrides=FAST)
    connection.send(summary.to_dict())
    connection.close()


def test_dns_rebinding_is_refused_at_connection_time(servers: Servers, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "var")
    ctx = build_context(settings)
    with session_scope(ctx.sessions) as session:
        # The name resolves nowhere at creation time (accepted: the crawler checks each connection).
        add_source(session, f"http://rebind.test:{servers.port}/", "site", policy=settings.address_policy, name="rb")
    ctx.close()
    before_public, before_internal = servers.public.counts(), servers.internal.counts()
    # The first answer is the public site; every later one the internal service. The first
    # connection (robots.txt) goes public; the server closes it, so each later request resolves
    # again, and is refused.
    servers.public.routes["/robots.txt"] = (200, {"Content-Type": "text/plain", "Connection": "close"}, b"")
    try:
        receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
        child = multiprocessing.get_context("spawn").Process(
            target=_crawl_with_fake_dns, args=(settings, "rb", {"rebind.test": [[PUBLIC], ["127.0.0.1"]]}, sender)
        )
        child.start()
        assert receiver.poll(120), "crawl did not finish"
        summary = CrawlSummary.from_dict(receiver.recv())
        child.join(30)
    finally:
        servers.public.routes = _public_routes(servers.port)(servers.public.root)
    assert servers.public.counts() - before_public == {"/robots.txt": 1}
    assert servers.internal.counts() == before_internal
    counters = summary.sources[0].counters
    assert counters["errors/address_refused"] >= 1 and counters.get("items/new", 0) == 0, counters
