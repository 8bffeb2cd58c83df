"""Fixtures for the review UI: a real uvicorn server on 127.0.0.1, data seeded through the
services layer, and Debian's headless Chromium driven by Playwright.

    def test_story(live_server, browser, seed):
        volunteer = seed.user(Role.VOLUNTEER)
        seed.tasks(3)
        page = live_server.page(browser)
        live_server.sign_in(page, volunteer)

Chromium is never downloaded: ``/usr/bin/chromium`` (Debian's package) or ``SAQSHY_CHROMIUM``. When it
is missing the browser tests are skipped with the reason, unless ``SAQSHY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from saqshy.context import Context, build_context
from saqshy.db.models import Role, Score, Source, SourceKind, User, utcnow
from saqshy.services.items import ingest_items
from saqshy.settings import Settings
from tests.services import service_missing
from triage_api.main import create_app

PASSWORD = "correct horse battery staple"
_BATCHES = itertools.count(1)  # URL ranges of seeded items, unique across Seed instances
CHROMIUM = Path(os.environ.get("SAQSHY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"

# Cheap Argon2, deterministic queue lanes, and a cookie the browser returns over plain http on loopback.
UI_SETTINGS: dict[str, Any] = {
    "triage_argon2_time_cost": 1,
    "triage_argon2_memory_kib": 8,
    "triage_argon2_parallelism": 1,
    "triage_exploration_share": 0.0,
    "triage_gold_share": 0.0,
    "triage_cookie_secure": False,
    "triage_login_max_failures": 1000,
}


# The queue's item once it takes decisions (a freshly shown item ignores them for a moment).
ARMED_ITEM = "#item[data-armed]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ui_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=UI_SETTINGS)


@pytest.fixture
def ui_ctx(ui_settings: Settings) -> Iterator[Context]:
    context = build_context(ui_settings)
    yield context
    context.close()


@dataclass
class Seed:
    """Test data written through the services layer, committed so the server process sees it."""

    ctx: Context
    counter: int = 0
    source_ids: list[int] = field(default_factory=list)

    def user(self, role: Role = Role.VOLUNTEER, **overrides: Any) -> User:
        from triage_api.services import users

        self.counter = next(_BATCHES)
        fields: dict[str, Any] = {
            "email": f"{role.value}{self.counter}@saqshy.test",
            "password": PASSWORD,
            "role": role,
            "display_name": f"{role.value.title()} {self.counter}",
            "locale": "en",
        }
        fields.update(overrides)
        with self.ctx.sessions() as session:
            user = users.create_user(session, self.ctx.settings, **fields)
            session.commit()
            session.refresh(user)
            session.expunge(user)
        user.password = fields["password"]  # type: ignore[attr-defined]
        return user

    def sources(self) -> list[int]:
        if not self.source_ids:
            wanted = [
                ("t.me/almaty_market", "https://t.me/s/almaty_market", SourceKind.TELEGRAM),
                ("forum.example.kz", "https://forum.example.kz/", SourceKind.FORUM),
                ("news.example.kz", "https://news.example.kz/rss", SourceKind.FEED),
            ]
            with self.ctx.sessions() as session:
                for name, url, kind in wanted:
                    row = session.scalars(select(Source).where(Source.name == name)).one_or_none()
                    if row is None:
                        row = Source(name=name, url=url, kind=kind)
                        session.add(row)
                        session.flush()
                    self.source_ids.append(row.id)
                session.commit()
        return self.source_ids

    def tasks(
        self,
        count: int,
        *,
        category: str = "drugs",
        score: float = 0.93,
        items: list[dict[str, Any]] | None = None,
        explanation: list[Any] | None = None,
    ) -> list[int]:
        """Ingest ``count`` items (or the given ones), score them above threshold, and sync the queue."""
        from triage_api.services import queue

        sources = self.sources()
        base = next(_BATCHES) * 100_000
        now = utcnow()
        payloads = items or [
            {
                "url": f"https://t.me/s/almaty_market/{base + n}",
                "language": ("ru", "kk", "en")[n % 3],
                "title": f"Объявление {base + n}",
                "text": (
                    f"Продаю закладки, пишите в личку @seller{n}, доставка по Алматы. "
                    f"Оплата криптой, гарантия качества. Номер {base + n}"
                ),
            }
            for n in range(count)
        ]
        for n, payload in enumerate(payloads):
            payload.setdefault("source_id", sources[n % len(sources)])
            payload.setdefault("fetched_at", now - timedelta(days=n % 7, minutes=n))
        with self.ctx.sessions() as session:
            results = ingest_items(session, payloads, self.ctx.settings)
            rows = []
            for n, result in enumerate(results):
                # Spans refer to what the classifier scores: the title, a newline, then the text.
                title = payloads[n].get("title")
                text = f"{title}\n{payloads[n]['text']}" if title else payloads[n]["text"]
                spans = explanation
                if spans is None:
                    at = text.find("закладки")
                    spans = [{"start": at, "end": at + len("закладки"), "weight": 0.9}] if at >= 0 else []
                    at = text.find("Оплата криптой")
                    if at >= 0:
                        spans.append({"start": at, "end": at + len("Оплата криптой"), "weight": 0.5})
                # Slightly different scores keep the claim order stable (newest-first ties are fine too).
                value = max(0.51, min(0.99, score - n * 1e-5))
                rows.append(
                    {
                        "item_id": result.item_id,
                        "model_version": "test-1",
                        "probabilities": {category: value},
                        "score": value,
                        "top_category": category,
                        "explanation": spans,
                        "created_at": now,
                    }
                )
            session.execute(insert(Score), rows)
            session.commit()
            queue.sync_tasks_from_scores(session, self.ctx.settings)
            session.commit()
        return [r.item_id for r in results]


@pytest.fixture
def seed(ui_ctx: Context) -> Seed:
    return Seed(ui_ctx)


def _env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAQSHY_")}
    env.update(
        {
            "SAQSHY_VAR_DIR": str(settings.var_dir),
            "SAQSHY_MODELS_DIR": str(settings.models_dir),
            "SAQSHY_DATABASE_URL": settings.database_url or "",
            "SAQSHY_ELASTICSEARCH_URL": "",
            "SAQSHY_REDIS_URL": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.base_model:  # the base encoder a retraining job trains on (the ML view's tests use a tiny one)
        env["SAQSHY_BASE_MODEL"] = settings.base_model
    env["SAQSHY_SEED_DATA"] = str(settings.seed_data)
    for name, value in UI_SETTINGS.items():
        env[f"SAQSHY_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@dataclass
class LiveServer:
    url: str
    log: Path

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def page(self, browser: Any, **context_args: Any) -> Any:
        """A fresh browser context (own cookies) with a recorder of requests, dialogs, errors."""
        context = browser.new_context(
            base_url=self.url, viewport={"width": 1280, "height": 900}, accept_downloads=True, **context_args
        )
        page = context.new_page()
        page.saqshy_requests = []
        page.saqshy_dialogs = []
        page.saqshy_errors = []
        page.saqshy_failed = []
        page.on("requestfailed", lambda r: page.saqshy_failed.append(r.url))
        page.on("request", lambda r: page.saqshy_requests.append(r.url))
        page.on("dialog", lambda d: (page.saqshy_dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: page.saqshy_errors.append(str(e)))
        return page

    def foreign_requests(self, page: Any) -> list[str]:
        """Every request the page made to a host other than this server (data: URLs excepted)."""
        return [u for u in page.saqshy_requests if not u.startswith("data:") and urlsplit(u).netloc != self.host]

    def sign_in(self, page: Any, user: User) -> None:
        """Sign in by keyboard alone: type, Tab, type, Enter."""
        page.goto("/")
        page.wait_for_selector("[data-testid=login-form]")
        page.focus("[data-testid=email]")
        page.keyboard.type(user.email)
        page.keyboard.press("Tab")
        page.keyboard.type(user.password)  # type: ignore[attr-defined]
        page.keyboard.press("Enter")
        page.wait_for_selector("[data-testid=logout]")


@contextmanager
def uvicorn_server(
    settings: Settings, log: Path, *, app: str = "triage_api.main:create_app", stop_seconds: float = 10
) -> Iterator[LiveServer]:
    """``app`` (a factory) under uvicorn in its own process, on ``settings``' store, on a free loopback port."""
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=_env_for(settings), stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                # Uvicorn answers only after the app's start-up, so any answer means ready (/health
                # also probes the search engine, which can take long on a fresh store).
                if httpx.get(f"{url}/ui/favicon.svg", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveServer(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def live_server(ui_settings: Settings, ui_ctx: Context, tmp_path: Path) -> Iterator[LiveServer]:
    """``saqshy``'s app under uvicorn in its own process, on the test store, on a free loopback port."""
    with uvicorn_server(ui_settings, tmp_path / "uvicorn.log") as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_missing("Chromium", str(CHROMIUM), f"Chromium is not installed at {CHROMIUM} (apt install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Chromium", str(CHROMIUM), "playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: the README's ``docs/screenshots`` only with
    ``SAQSHY_UPDATE_SCREENSHOTS=1`` (a plain test run would otherwise leave the checkout modified)."""
    if os.environ.get("SAQSHY_UPDATE_SCREENSHOTS") != "1":
        return tmp_path_factory.mktemp("screenshots")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --- API-level fixtures for the UI's own routers (wellbeing, models) ---------------------------


@pytest.fixture
def api(ui_settings: Settings, ui_ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ui_settings, context=ui_ctx)) as client:
        yield client


@pytest.fixture
def person(ui_ctx: Context) -> Callable[..., tuple[User, dict[str, str]]]:
    """``person(Role.MODERATOR)``: a committed user and an Authorization header for them."""
    from triage_api.services import auth, users

    counter = iter(range(1, 1_000_000))

    def make(role: Role = Role.VOLUNTEER, **fields: Any) -> tuple[User, dict[str, str]]:
        n = next(counter)
        with ui_ctx.sessions.begin() as session:
            user = users.create_user(session, ui_ctx.settings, email=f"{role.value}{n}@saqshy.test",
                                     password=PASSWORD, role=role, display_name=f"{role.value} {n}", **fields)
            token = auth.issue_token(session, ui_ctx.settings, user, auth.BEARER).token
            session.flush()
            session.expunge(user)
        return user, {"Authorization": f"Bearer {token}"}

    return make


def bearer(live_server: LiveServer, user: User) -> httpx.Client:
    """An API client signed in as ``user`` with a bearer token (data set-up beside the browser)."""
    client = httpx.Client(base_url=live_server.url, trust_env=False, timeout=10)
    token = client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def vote(
    live_server: LiveServer, user: User, verdict: str, category: str | None = None, note: str | None = None
) -> int:
    """``user`` claims the next task and votes on it over the API; the task's id."""
    with closing(bearer(live_server, user)) as client:
        claimed = client.post("/tasks/claim")
        assert claimed.status_code == 200, (claimed.status_code, claimed.text)
        task = claimed.json()
        body: dict[str, Any] = {"verdict": verdict}
        if category is not None:
            body["category"] = category
        if note is not None:
            body["note"] = note
        response = client.post(f"/tasks/{task['id']}/votes", json=body)
        assert response.status_code == 201, response.text
        return int(task["id"])

