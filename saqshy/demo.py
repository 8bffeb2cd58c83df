"""A demo installation: one account per role, a bundled sample website crawled by the real
crawler, and sample items from the seed data set, all scored into the review queue.

``saqshy demo`` serves the sample site (``saqshy/demo_site``: a news site in Russian, Kazakh
and English, a phpBB-style forum and a Telegram-style channel preview) on a loopback address of
its own, registers its three parts as disabled demo sources, and crawls them with
``crawlers.runner.run_crawl``, whose address policy allows that one address and nothing else.
It is idempotent: accounts that exist are kept, sources are found by name, items are upserted by
URL (the site keeps its address and ports from one run to the next, so a recrawl adds nothing).
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from crawlers.runner import CrawlSummary, run_crawl, summary_table
from saqshy.context import Context
from saqshy.db.models import JobRecord, Role, Source, SourceKind, User
from saqshy.db.session import session_scope
from saqshy.jobs import names
from saqshy.netpolicy import AddressPolicy
from saqshy.services.items import ingest_items
from saqshy.settings import PROJECT_ROOT, Settings

SEED_DIR = PROJECT_ROOT / "data" / "seed"
SITE_DIR = Path(__file__).resolve().parent / "demo_site"
DEMO_DOMAIN = "demo.saqshy.example"
ACCOUNTS = [
    ("admin", Role.ADMIN),
    ("moderator", Role.MODERATOR),
    ("volunteer1", Role.VOLUNTEER),
    ("volunteer2", Role.VOLUNTEER),
    ("police", Role.POLICE),
    ("ml", Role.ML_ENGINEER),
]
SEED_SOURCE = "Seed data set (demo)"
# The seed items' source before the demo crawled a site; renamed on the next run.
OLD_SEED_SOURCE = "demo"
# A loopback address nothing else uses, so the demo's crawl may reach this one address only;
# where it cannot be bound (macOS configures 127.0.0.1 alone) the site falls back to 127.0.0.1.
SITE_ADDRESS = "127.0.83.1"
FALLBACK_ADDRESS = "127.0.0.1"
ORIGIN_MARK = b"__ORIGIN__"
CRAWL_TIMEOUT_S = 300
# The sample site is on this machine: no politeness delay is owed to it.
CRAWL_OVERRIDES: dict[str, Any] = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0}


@dataclass(frozen=True)
class SamplePart:
    """One part of the sample site: its folder, served on a port of its own, and its source."""

    folder: str
    source_name: str
    kind: SourceKind
    start_path: str
    default_port: int
    depth: int = 2
    read_back: str | None = None


SAMPLE_PARTS = (
    SamplePart("news", "Dala News (demo)", SourceKind.SITE, "/", 8581, depth=3),
    SamplePart("forum", "Dala Forum (demo)", SourceKind.FORUM, "/", 8582),
    # The channel's posts are dated, and a demo installed months later must still read them all.
    SamplePart("channel", "t.me/example_city_deals (demo)", SourceKind.TELEGRAM, "/s/example_city_deals/", 8583,
               read_back="all"),
)


@dataclass
class DemoReport:
    accounts_created: list[str] = field(default_factory=list)
    items: int = 0
    scoring_jobs: list[str] = field(default_factory=list)
    site_urls: dict[str, str] = field(default_factory=dict)
    allowed_network: str = ""
    crawl: CrawlSummary = field(default_factory=CrawlSummary)


# --- the sample site ---------------------------------------------------------------------


class SampleSiteServer(ThreadingHTTPServer):
    """Serves one folder of the sample site; ``__ORIGIN__`` in a file becomes this server's origin
    (sitemaps and robots.txt name absolute URLs)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        super().__init__(address, SampleSiteHandler)
        self.root = root.resolve()
        host, port = self.server_address[:2]
        self.origin = f"http://{host!s}:{port}"


class SampleSiteHandler(BaseHTTPRequestHandler):
    server: SampleSiteServer

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes().replace(ORIGIN_MARK, self.server.origin.encode())
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8" if content_type.startswith("text/")
                         or content_type.endswith("xml") else content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self) -> Path | None:
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / relative).resolve()
        if path.is_dir():
            path = path / "index.html"
        if not path.is_relative_to(self.server.root) or not path.is_file():
            return None
        return path

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the crawl's progress table says what was fetched."""


def site_address() -> str:
    """The demo's own loopback address, or 127.0.0.1 where that cannot be bound."""
    with socket.socket() as probe:
        try:
            probe.bind((SITE_ADDRESS, 0))
        except OSError:
            return FALLBACK_ADDRESS
    return SITE_ADDRESS


def _bind(address: str, port: int, root: Path) -> SampleSiteServer:
    """On ``port`` (the one the site had before, so its URLs stay the same), else on a free one."""
    try:
        return SampleSiteServer((address, port), root)
    except OSError:
        return SampleSiteServer((address, 0), root)


@contextlib.contextmanager
def serve_sample_site(address: str, ports: dict[str, int]) -> Iterator[dict[str, str]]:
    """Serve every part of the sample site on background threads; yield each part's origin."""
    servers: list[SampleSiteServer] = []
    threads: list[threading.Thread] = []
    try:
        for part in SAMPLE_PARTS:
            server = _bind(address, ports.get(part.folder, part.default_port), SITE_DIR / part.folder)
            servers.append(server)
            thread = threading.Thread(target=server.serve_forever, name=f"saqshy-demo-{part.folder}", daemon=True)
            thread.start()
            threads.append(thread)
        yield {part.folder: server.origin for part, server in zip(SAMPLE_PARTS, servers, strict=True)}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)


def crawl_settings(settings: Settings, address: str) -> Settings:
    """The user's settings with the crawler allowed the sample site's address and no other."""
    return settings.model_copy(update={"crawler_allowed_networks": f"{address}/32"})


# --- sources -----------------------------------------------------------------------------


def _previous_ports(ctx: Context) -> dict[str, int]:
    names = [part.source_name for part in SAMPLE_PARTS]
    with session_scope(ctx.sessions) as session:
        urls = {source.name: source.url for source in session.scalars(select(Source).where(Source.name.in_(names)))}
    ports = {part.folder: urlsplit(urls[part.source_name]).port for part in SAMPLE_PARTS if part.source_name in urls}
    return {folder: port for folder, port in ports.items() if port}


def _ensure_site_sources(ctx: Context, origins: dict[str, str], policy: AddressPolicy) -> None:
    """The sample site's sources, disabled (the site is up only while ``saqshy demo`` runs)."""
    from saqshy.services.sources import add_source

    with session_scope(ctx.sessions) as session:
        for part in SAMPLE_PARTS:
            url = origins[part.folder] + part.start_path
            source = session.scalar(select(Source).where(Source.name == part.source_name))
            if source is None:
                source = add_source(session, url, part.kind, policy=policy, every="1d", depth=part.depth,
                                    name=part.source_name, read_back=part.read_back)
            source.url = url
            source.enabled = False


def _seed_source_id(ctx: Context) -> int:
    with session_scope(ctx.sessions) as session:
        source = session.scalar(select(Source).where(Source.name.in_([SEED_SOURCE, OLD_SEED_SOURCE])))
        if source is None:
            source = Source(name=SEED_SOURCE, url=f"https://{DEMO_DOMAIN}/", kind=SourceKind.SITE, enabled=False)
            session.add(source)
            session.flush()
        source.name = SEED_SOURCE
        return source.id


# --- items -------------------------------------------------------------------------------


def _seed_examples(seed_dir: Path, limit: int) -> list[dict[str, str]]:
    examples: list[dict[str, str]] = []
    for name in ("positives.jsonl", "hard_negatives.jsonl", "negatives.jsonl", "evasions.jsonl"):
        path = seed_dir / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as lines:
            examples.extend(json.loads(line) for line in lines if line.strip())
    # Interleave the files so a small demo still shows every kind of item. A stable hash (not
    # ``hash``, salted per process): a second ``saqshy demo`` picks the same items, so adds none.
    examples.sort(key=lambda e: (zlib.crc32(e["id"].encode()) % 7, e["id"]))
    return examples[:limit]


def _load_seed_items(ctx: Context, limit: int) -> tuple[int, list[str]]:
    """Store the seed sample and queue its scoring; return the item count and the job keys."""
    source_id = _seed_source_id(ctx)
    rows = [
        {
            "url": f"https://{DEMO_DOMAIN}/posts/{example['id']}",
            "source_id": source_id,
            "language": example.get("lang") if example.get("lang") in ("ru", "kk", "en") else "other",
            "title": None,
            "text": example["text"],
            "extra": {"demo": True},
        }
        for example in _seed_examples(SEED_DIR, limit)
    ]
    with session_scope(ctx.sessions) as session:
        results = ingest_items(session, rows, ctx.settings, ctx.search)
    ids = [r.item_id for r in results]
    jobs = [ctx.jobs.enqueue(names.SCORE_ITEMS, {"item_ids": ids[start : start + 64]})
            for start in range(0, len(ids), 64)]
    return len(results), jobs


def _crawl_score_jobs(ctx: Context) -> set[str]:
    with session_scope(ctx.sessions) as session:
        return set(session.scalars(
            select(JobRecord.key).where(JobRecord.key.like(f"{names.SCORE_ITEMS}:crawl-%"))))


def _crawl_sample_site(ctx: Context, report: DemoReport, progress: Callable[[Any], None]) -> None:
    """Serve the site, crawl it in a child process, and hand the crawl's scoring jobs to this
    process's workers (the crawl only records them)."""
    address = site_address()
    settings = crawl_settings(ctx.settings, address)
    report.allowed_network = settings.crawler_allowed_networks
    before = _crawl_score_jobs(ctx)
    with serve_sample_site(address, _previous_ports(ctx)) as origins:
        _ensure_site_sources(ctx, origins, settings.address_policy)
        report.site_urls = {part.source_name: origins[part.folder] + part.start_path for part in SAMPLE_PARTS}
        progress(f"sample site: {origins['news']}/ (the demo's crawl may reach {report.allowed_network} only)")
        report.crawl = run_crawl(settings, [part.source_name for part in SAMPLE_PARTS], progress=True,
                                 overrides=CRAWL_OVERRIDES, timeout=CRAWL_TIMEOUT_S)
    progress("")  # the child's live table ends without a newline when stderr is not a terminal
    progress(summary_table(report.crawl))
    new_jobs = sorted(_crawl_score_jobs(ctx) - before)
    ctx.jobs.requeue_pending(keys=new_jobs)
    report.scoring_jobs.extend(new_jobs)


def seed_demo(
    ctx: Context, *, password: str, items: int = 120, progress: Callable[[Any], None] = print
) -> DemoReport:
    from triage_api.services.users import create_user

    report = DemoReport()
    with session_scope(ctx.sessions) as session:
        for name, role in ACCOUNTS:
            email = f"{name}@{DEMO_DOMAIN}"
            if session.scalar(select(User.id).where(User.email == email)) is None:
                create_user(session, ctx.settings, email=email, password=password, role=role, display_name=name)
                report.accounts_created.append(email)
    progress(f"accounts: {len(ACCOUNTS)} ({len(report.accounts_created)} new)")

    report.items, report.scoring_jobs = _load_seed_items(ctx, items)
    progress(f"items: {report.items} sample items from the seed data set stored")
    _crawl_sample_site(ctx, report, progress)
    progress(f"scoring: {len(report.scoring_jobs)} jobs queued")
    return report
