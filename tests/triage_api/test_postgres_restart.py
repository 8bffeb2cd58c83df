"""PostgreSQL restarted for real while volunteers claim and vote over HTTP against ``saqshy serve``.

The database is a private cluster (initdb, pg_ctl) the test stops with a fast shutdown and starts
again: requests during the outage are answered 503 with a Retry-After hint and a translatable
error body, requests after it succeed, no vote is half-stored and the audit chain verifies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from review_ui import STATIC_DIR
from saqshy.context import Context, build_context
from saqshy.db.models import AuditEntry, Role, User, Vote
from saqshy.errors import ErrorCode
from saqshy.settings import Settings
from tests.private_services import PrivatePostgres, free_port
from tests.processes import saqshy_env
from tests.triage_api.concurrency import check_invariants
from tests.triage_api.conftest import FAST_AUTH, PASSWORD
from tests.triage_api.triage_factories import make_tasks
from triage_api.services import auth, users

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAQSHY = str(Path(sys.executable).with_name("saqshy"))  # the installed command; PYTHONPATH picks this checkout
VOLUNTEERS = 6
TASKS = 40
OUTAGE_SECONDS = 3.0
WAIT = 60.0


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


@pytest.fixture
def store(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Context]:
    settings = Settings(_env_file=None, var_dir=tmp_path / "var", models_dir=tmp_path / "models",
                        database_url=postgres.url).model_copy(update=FAST_AUTH)
    context = build_context(settings)
    yield context
    context.close()


def _server_env(settings: Settings) -> dict[str, str]:
    return saqshy_env(database_url=settings.sqlalchemy_url, var_dir=settings.var_dir,
                      models_dir=settings.models_dir, scheduler_in_process="false", **FAST_AUTH)


@pytest.fixture
def server(store: Context, tmp_path: Path) -> Iterator[str]:
    """``saqshy serve --workers 2`` on the private database, as an operator runs it."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [SAQSHY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            cwd=tmp_path, env=_server_env(store.settings), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-4000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-4000:]
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Load:
    """What the volunteers sent and were answered, shared by their threads."""

    url: str
    outage_over: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, str, int]] = field(default_factory=list)  # (at, what, status)
    unavailable: list[httpx.Response] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    accepted: Counter[tuple[int, int]] = field(default_factory=Counter)  # (user, task) answered 201
    refused: set[tuple[int, int]] = field(default_factory=set)  # (user, task) whose vote was answered 503

    def record(self, what: str, answer: httpx.Response) -> None:
        with self.lock:
            self.answers.append((time.monotonic(), what, answer.status_code))
            if answer.status_code == 503:
                self.unavailable.append(answer)

    def volunteer(self, user_id: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as http:
            while True:
                claimed = http.post("/tasks/claim")
                self.record("claim", claimed)
                if claimed.status_code == 204 and self.outage_over.is_set():
                    return
                if claimed.status_code != 200:
                    if claimed.status_code not in (204, 503):
                        self.unexpected.append(f"claim: {claimed.status_code} {claimed.text[:300]}")
                        return
                    time.sleep(0.1)
                    continue
                task_id = claimed.json()["id"]
                voted = http.post(f"/tasks/{task_id}/votes", json={"verdict": "legal"})
                self.record("vote", voted)
                with self.lock:
                    if voted.status_code == 201:
                        self.accepted[(user_id, task_id)] += 1
                    elif voted.status_code == 503:
                        self.refused.add((user_id, task_id))
                    elif not (voted.status_code == 409 and (user_id, task_id) in self.refused):
                        # A 409 (already voted) is right only after a 503 whose commit did reach the store.
                        self.unexpected.append(f"vote on {task_id}: {voted.status_code} {voted.text[:300]}")
                        return


def _volunteers(ctx: Context, count: int) -> list[tuple[int, str]]:
    made = []
    with ctx.sessions.begin() as session:
        for n in range(count):
            user = users.create_user(session, ctx.settings, email=f"volunteer{n}@example.test", password=PASSWORD,
                                     role=Role.VOLUNTEER, display_name=f"Volunteer {n}")
            made.append((user.id, auth.issue_token(session, ctx.settings, user).token))
    return made


def test_postgres_restarted_under_api_load(postgres: PrivatePostgres, store: Context, server: str) -> None:
    make_tasks(store.sessions, TASKS)
    load = Load(url=server)
    volunteers = _volunteers(store, VOLUNTEERS)
    threads = [threading.Thread(target=load.volunteer, args=volunteer, daemon=True) for volunteer in volunteers]
    for thread in threads:
        thread.start()

    deadline = time.monotonic() + WAIT
    while sum(load.accepted.values()) < TASKS // 2:
        assert not load.unexpected and time.monotonic() < deadline, load.unexpected[:5]
        time.sleep(0.05)
    postgres.stop()
    stopped_at = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    postgres.start()
    started_at = time.monotonic()
    load.outage_over.set()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "volunteers still busy"
    # A volunteer stops at the first 204, possibly while others still hold leases: finish the
    # remaining votes one volunteer at a time.
    accepted = -1
    while accepted != sum(load.accepted.values()):
        accepted = sum(load.accepted.values())
        for volunteer in volunteers:
            load.volunteer(*volunteer)
    assert not load.unexpected, load.unexpected[:5]

    # During the outage: clean 503s, each with a retry hint and a code the UI translates.
    assert load.unavailable, "no request met the outage"
    for answer in load.unavailable:
        body = answer.json()
        assert body["code"] == ErrorCode.DATABASE_UNAVAILABLE.value, body
        assert int(answer.headers["Retry-After"]) == store.settings.database_retry_after_seconds
        assert body["params"] == {"retry_after": store.settings.database_retry_after_seconds}
    for locale in ("ru", "kk", "en"):  # the body's code is what the UI translates, with its params
        messages = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))
        assert "{retry_after}" in messages[f"errors.{ErrorCode.DATABASE_UNAVAILABLE.value}"]
    assert all(status != 500 for _, _, status in load.answers)
    assert any(at > stopped_at and status == 503 for at, _, status in load.answers)
    # After it: the same server processes answer again (no restart of the API needed).
    assert any(at > started_at and what == "vote" and status == 201 for at, what, status in load.answers)

    with store.sessions() as session:
        stored = Counter((user_id, task_id) for user_id, task_id in session.execute(
            select(Vote.user_id, Vote.task_id).where(Vote.is_moderator_decision.is_(False))))
        cast_entries = session.scalar(select(func.count()).select_from(AuditEntry)
                                      .where(AuditEntry.action == "vote.cast"))
        stored_volunteers = session.scalar(select(func.count()).select_from(User).where(User.role == Role.VOLUNTEER))
        counts = check_invariants(session, store.settings, sum(stored.values()))
    # Every accepted vote is stored once; a stored vote nobody saw accepted was answered 503 after its commit.
    assert all(stored[key] == 1 for key in load.accepted), load.accepted - stored
    assert set(stored) - set(load.accepted) <= load.refused
    assert cast_entries == sum(stored.values())  # no vote without its audit entry, nor an entry without its vote
    assert counts["open"] == 0 and counts["decided"] == TASKS, counts
    assert stored_volunteers == VOLUNTEERS

    verify = subprocess.run([SAQSHY, "audit", "verify"], env=_server_env(store.settings),
                            cwd=store.settings.var_dir, capture_output=True, text=True, timeout=WAIT)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "audit log intact" in verify.stdout
