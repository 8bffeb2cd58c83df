"""Scale-out, proven: every role of a deployment as a real process, against one PostgreSQL, one
Elasticsearch and one Redis.

Two ``saqshy crawl`` processes split one crawl of a local site through the shared frontier, two
``saqshy worker`` (RQ) processes score what they store, one ``saqshy scheduler`` keeps the search
index caught up, and ``saqshy serve --workers 2`` serves volunteers, who review every task over
HTTP. Every page is fetched once, every item scored once, every task decided once, and the counts
match from pages to decisions; the search index holds every item.

The test keeps to its own PostgreSQL database, Elasticsearch index and Redis key names, so it
shares the services with other test runs without touching their data.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import func, select

from saqshy.context import Context, build_context
from saqshy.db.models import ContentItem, JobRecord, ReviewTask, Role, Score, TaskStatus, Vote
from saqshy.db.session import session_scope
from saqshy.services.sources import add_source
from saqshy.settings import PROJECT_ROOT, Settings
from tests.classifier.conftest import tiny_base, tiny_registry  # noqa: F401 - fixtures
from tests.private_services import free_port
from tests.processes import saqshy_env
from tests.services import SERVICES, private_database, service_missing

pytestmark = [pytest.mark.scaleout, pytest.mark.integration, pytest.mark.slow]

SAQSHY = [sys.executable, "-c", "from saqshy.cli import run; run()"]
SECTIONS = 3
ARTICLES_PER_SECTION = 5
VOLUNTEERS = 4  # two votes decide a task; four volunteers keep both API processes busy
PASSWORD = "scale-out-password-1"
SOURCE = "scale-out site"
WAIT = 150.0
SEED_FILES = ("negatives.jsonl", "hard_negatives.jsonl", "positives.jsonl")


# --- the local site ----------------------------------------------------------------------


def _seed_texts() -> list[str]:
    texts: list[str] = []
    for name in SEED_FILES:
        with (PROJECT_ROOT / "data" / "seed" / name).open(encoding="utf-8") as lines:
            texts.extend(json.loads(line)["text"] for line in lines if line.strip())
    return texts


def _page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head><body>'
        '<nav><a href="/">Home</a></nav>'
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>Scale-out test site. Contacts. Privacy.</footer></body></html>"
    ).encode()


def make_site() -> dict[str, bytes]:
    """An index, a few sections and their articles; each article a few different seed texts, so
    no two are near-duplicates."""
    texts = _seed_texts()
    site = {"/robots.txt": b"User-agent: *\nAllow: /\n"}
    site["/"] = _page("Index", "".join(f'<p><a href="/s/{s}">Section {s}</a></p>' for s in range(SECTIONS)))
    for s in range(SECTIONS):
        links = "".join(f'<p><a href="/a/{s}-{a}">Article {s}-{a}</a></p>' for a in range(ARTICLES_PER_SECTION))
        site[f"/s/{s}"] = _page(f"Section {s}", links)
        for a in range(ARTICLES_PER_SECTION):
            n = s * ARTICLES_PER_SECTION + a
            paragraphs = "".join(f"<p>{texts[(n * 7 + k * 31) % len(texts)]}</p>" for k in range(1))
            site[f"/a/{s}-{a}"] = _page(f"Article {s}-{a}", paragraphs)
    return site


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), SiteHandler)
        self.pages = pages
        self.fetched: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class SiteHandler(BaseHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.fetched[self.path] += 1
        body = self.server.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test counts requests itself."""


@pytest.fixture
def site() -> Iterator[SiteServer]:
    server = SiteServer(make_site())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --- the services, each kept to this test's own names -------------------------------------


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    with private_database("scaleout") as url:
        yield url


@pytest.fixture
def elasticsearch_url() -> str:
    url = SERVICES.test_elasticsearch_url
    try:
        httpx.get(f"{url}/_cluster/health", timeout=5, trust_env=False).raise_for_status()
    except httpx.HTTPError:
        service_missing("Elasticsearch", url)
    return url


@pytest.fixture
def redis_url() -> str:
    url = SERVICES.test_redis_url
    try:
        with closing(Redis.from_url(url, socket_connect_timeout=2)) as client:
            client.ping()
    except Exception:
        service_missing("Redis", url)
    return url


@dataclass
class Deployment:
    """The settings every process shares, and the processes this test started."""

    settings: Settings
    token: str
    folder: Path
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        settings = self.settings
        return saqshy_env(
            var_dir=settings.var_dir, models_dir=settings.models_dir, base_model=settings.base_model,
            database_url=settings.sqlalchemy_url, elasticsearch_url=settings.elasticsearch_url,
            elasticsearch_index=settings.elasticsearch_index, redis_url=settings.redis_url,
            rq_queue=settings.rq_queue, crawler_allowed_networks=settings.crawler_allowed_networks,
            # A process takes only what it fetches at once from the shared frontier: on one small
            # site, the default (32) lets the first process take the whole crawl.
            crawler_concurrent_requests="2",
            job_backoff_seconds="0.2", job_backoff_max_seconds="1",
            triage_exploration_share="1", triage_gold_share="0", triage_vote_undo_seconds="0",
            triage_argon2_time_cost="1", triage_argon2_memory_kib="8", triage_argon2_parallelism="1",
            triage_cookie_secure="false", triage_login_max_failures="1000",
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [*SAQSHY, *args],
                cwd=self.folder,  # away from any developer .env in the checkout
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: children (RQ's scheduler, uvicorn's workers) go with it
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name} (tail)\n{self.log(name)[-2500:]}" for name in self.processes)

    def stop_all(self) -> None:
        # The test is over: no graceful shutdown to wait for; killing each group takes its children too.
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)


@pytest.fixture
def deployment(
    tiny_registry: tuple[Settings, str],  # noqa: F811 - the fixture imported above
    database_url: str,
    elasticsearch_url: str,
    redis_url: str,
    tmp_path: Path,
) -> Iterator[Deployment]:
    registry, _version = tiny_registry
    token = f"scaleout-{uuid.uuid4().hex[:10]}"
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path / "var",
        models_dir=registry.models_dir,
        base_model=registry.base_model,
        database_url=database_url,
        elasticsearch_url=elasticsearch_url,
        elasticsearch_index=token,
        redis_url=redis_url,
        rq_queue=token,
        crawler_allowed_networks="127.0.0.1/32",
        triage_argon2_time_cost=1,
        triage_argon2_memory_kib=8,
        triage_argon2_parallelism=1,
    )
    made = Deployment(settings=settings, token=token, folder=tmp_path, port=free_port())
    try:
        yield made
    finally:
        made.stop_all()
        _forget(made)


def _forget(deployment: Deployment) -> None:
    """Drop this test's Redis keys and Elasticsearch index (the database goes with its fixture)."""
    with closing(Redis.from_url(deployment.settings.redis_url or "")) as client:
        keys = list(client.scan_iter(match=f"*{deployment.token}*", count=1000))
        if keys:
            client.delete(*keys)
    httpx.delete(f"{deployment.settings.elasticsearch_url}/{deployment.token}*", timeout=10, trust_env=False)


# --- the volunteers ----------------------------------------------------------------------


def _volunteers(ctx: Context) -> list[str]:
    from triage_api.services.users import create_user

    emails = [f"volunteer{n}@scaleout.test" for n in range(VOLUNTEERS)]
    with session_scope(ctx.sessions) as session:
        for email in emails:
            create_user(session, ctx.settings, email=email, password=PASSWORD, role=Role.VOLUNTEER,
                        display_name=email.split("@")[0])
    return emails


def _open_tasks(ctx: Context) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(
            select(func.count()).select_from(ReviewTask).where(ReviewTask.status != TaskStatus.DECIDED)
        ) or 0)


def _review(base_url: str, email: str, ctx: Context, deadline: float) -> int:
    """Claim and vote until no task is left undecided; the number of votes cast."""
    votes = 0
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as client:
        login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        while time.monotonic() < deadline:
            claimed = client.post("/tasks/claim")
            if claimed.status_code == 204:
                # Nothing for me now: the rest is voted on by me or leased by the others.
                if _open_tasks(ctx) == 0:
                    return votes
                time.sleep(0.2)
                continue
            assert claimed.status_code == 200, (claimed.status_code, claimed.text)
            task_id = claimed.json()["id"]
            voted = client.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"})
            assert voted.status_code == 201, (voted.status_code, voted.text)
            votes += 1
    raise AssertionError(f"{email}: tasks still undecided after the deadline")


# --- the test ----------------------------------------------------------------------------


def _wait(what: str, done: Any, deployment: Deployment, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        for name, process in deployment.processes.items():
            if process.poll() is not None and not name.startswith("crawl"):
                pytest.fail(f"{name} exited ({process.returncode}) while waiting for {what}\n{deployment.logs()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{deployment.logs()}")
        time.sleep(0.25)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _pipeline_settled(ctx: Context) -> bool:
    """Every item scored, every score triaged into a task, no job left to run."""
    with session_scope(ctx.sessions) as session:
        items = session.scalar(select(func.count()).select_from(ContentItem))
        scores = session.scalar(select(func.count()).select_from(Score))
        untriaged = session.scalar(select(func.count()).select_from(Score).where(Score.triaged_at.is_(None)))
        pending = session.scalar(
            select(func.count()).select_from(JobRecord)
            .where(JobRecord.name == "score_items", JobRecord.status.in_(("queued", "running", "retrying")))
        )
    return bool(items) and items == scores and not untriaged and not pending


def _indexed(deployment: Deployment, ctx: Context) -> set[int]:
    with session_scope(ctx.sessions) as session:
        expected = set(session.scalars(select(ContentItem.id)))
    ctx.search.refresh()
    found = ctx.search.indexed_ids()
    return expected - found


def test_every_role_as_its_own_process_processes_every_page_once(site: SiteServer, deployment: Deployment) -> None:
    settings = deployment.settings
    ctx = build_context(settings, migrate=True)
    try:
        with session_scope(ctx.sessions) as session:
            source = add_source(session, site.root + "/", "site", policy=settings.address_policy, depth=2, name=SOURCE)
            source.enabled = False  # crawled by name here; the scheduler must not start a crawl of its own
        emails = _volunteers(ctx)

        base_url = f"http://127.0.0.1:{deployment.port}"
        deployment.start("serve", "serve", "--host", "127.0.0.1", "--port", str(deployment.port), "--workers", "2")
        for n in range(2):
            deployment.start(f"worker{n}", "worker")
        deployment.start("scheduler", "scheduler", "--tick", "0.5")
        _wait("the API", lambda: _healthy(base_url), deployment)

        crawl_key = f"{deployment.token}-crawl"
        crawlers = [deployment.start(f"crawl{n}", "crawl", SOURCE, "--crawl-key", crawl_key, "--no-progress")
                    for n in range(2)]
        for n, crawler in enumerate(crawlers):
            try:
                crawler.wait(WAIT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"crawl{n} did not finish\n{deployment.logs()}")
            assert crawler.returncode == 0, deployment.logs()

        # Every page of the site fetched, and fetched once, by the two processes together.
        # (Besides the pages, a crawler probes for a sitemap: once too; each process reads robots.txt.)
        again = {path: n for path, n in site.fetched.items() if n > 1 and path != "/robots.txt"}
        assert not again, again
        pages = {path: n for path, n in site.fetched.items() if path in site.pages and path != "/robots.txt"}
        assert set(pages) == set(site.pages) - {"/robots.txt"}, sorted(set(site.pages) - set(pages))

        _wait("scoring and triage", lambda: _pipeline_settled(ctx), deployment)
        with session_scope(ctx.sessions) as session:
            items = {item.url: item.id for item in session.scalars(select(ContentItem))}
            crawl_runs = {key.split(":")[1] for key in session.scalars(
                select(JobRecord.key).where(JobRecord.name == "score_items"))}
        articles = [f"{site.root}{path}" for path in site.pages if path.startswith("/a/")]
        # Each article page is one item; every item comes from a page fetched once.
        assert set(articles) <= set(items), sorted(set(articles) - set(items))
        assert len(items) <= len(pages)
        assert len(crawl_runs) == 2, f"both crawl processes stored items: {crawl_runs}"

        # Every item scored once: one score row each, and the workers' model wrote each exactly once.
        scored = sum(int(n) for name in ("worker0", "worker1")
                     for n in re.findall(r"scored (\d+) of \d+ items", deployment.log(name)))
        assert scored == len(items), (scored, len(items))

        with session_scope(ctx.sessions) as session:
            per_item = Counter(session.scalars(select(Score.item_id)))
            tasks = list(session.scalars(select(ReviewTask)))
            covered = {task.item_id for task in tasks} | {
                item.id for item in session.scalars(select(ContentItem))
                if item.cluster_id in {task.cluster_id for task in tasks if task.cluster_id is not None}
            }
        assert set(per_item) == set(items.values()) and set(per_item.values()) == {1}
        # Every score became a task (exploration share 1), one per near-duplicate cluster.
        assert covered == set(items.values())
        assert len(tasks) + sum(task.duplicate_count for task in tasks) == len(items)

        deadline = time.monotonic() + WAIT
        with ThreadPoolExecutor(VOLUNTEERS) as pool:
            votes = sum(pool.map(lambda email: _review(base_url, email, ctx, deadline), emails))

        with session_scope(ctx.sessions) as session:
            decided = session.scalar(
                select(func.count()).select_from(ReviewTask).where(ReviewTask.status == TaskStatus.DECIDED)
            )
            per_task = Counter(session.scalars(select(Vote.task_id)))
        # Every task reviewed once: decided by exactly the two votes consensus needs.
        assert decided == len(tasks)
        assert votes == sum(per_task.values()) == 2 * len(tasks)
        assert set(per_task.values()) == {2}

        # The scheduler's index catch-up leaves no item out of the search index.
        _wait("the search index", lambda: not _indexed(deployment, ctx), deployment)
        print(f"scale-out: {len(pages)} pages, {len(items)} items, {len(per_item)} scores, "
              f"{len(tasks)} tasks, {decided} decisions, {votes} votes")
    finally:
        ctx.close()
