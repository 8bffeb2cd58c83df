"""Harnesses that run the jobs contract against each adapter.

In-process: the pool in the test process. RQ: a real Redis (``SAQSHY_TEST_REDIS_URL``, or a
private ``redis-server`` started here when that URL is not reachable and was not set
explicitly) and a real worker process running ``run_worker``, as ``saqshy worker`` does.
Each RQ test gets its own queue name, and every Redis key of the test contains it: the test
can then "lose Redis" (delete all its keys) without touching anyone else's data.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import text

from saqshy.context import Context
from saqshy.db.migrate import upgrade
from saqshy.db.session import make_engine, make_session_factory
from saqshy.jobs.base import JobQueue
from saqshy.jobs.inprocess import InProcessJobQueue
from saqshy.settings import Settings
from tests.private_services import free_port, redis_answers
from tests.processes import saqshy_env
from tests.saqshy.jobs import sample_jobs  # noqa: F401 - registers the test jobs
from tests.services import SERVICES, private_database, service_missing

# Small but measurable: the backoff test checks the gaps between attempts.
BACKOFF = 0.1
BACKOFF_MAX = 0.15
MAX_ATTEMPTS = 3
# A killed worker's jobs are taken back after three missed beats: fast enough for a test, slow
# enough that a busy worker on a loaded machine is not taken for dead.
HEARTBEAT = 0.5
# Generous: the RQ worker process needs a moment to start on a loaded machine.
WAIT = 45.0


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = SERVICES.test_redis_url
    if redis_answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if "test_redis_url" in SERVICES.model_fields_set or server is None:
        service_missing("Redis", url)
    assert server is not None
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    private = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(private):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            service_missing("Redis", url, f"Redis is not reachable at {url} and a private redis-server failed")
        time.sleep(0.05)
    yield private
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def jobs_postgres_url() -> Iterator[str]:
    """A private PostgreSQL database, next to the test database, migrated once per session."""
    with private_database("jobs") as url:
        engine = make_engine(Settings(_env_file=None), url=url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url


def job_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "job_backoff_seconds": BACKOFF,
            "job_backoff_max_seconds": BACKOFF_MAX,
            "job_max_attempts": MAX_ATTEMPTS,
            "job_workers": 2,
            "job_worker_heartbeat_seconds": HEARTBEAT,
            **changes,
        }
    )


class Harness:
    """One adapter, its store, and a worker the test starts when it wants jobs to run."""

    kind: str
    queue: JobQueue

    def __init__(self, settings: Settings, ctx: Context, tmp: Path) -> None:
        self.settings = settings
        self.ctx = ctx
        self.tmp = tmp
        self.worker_started = False

    def log(self, name: str = "calls") -> str:
        return str(self.tmp / f"{name}-{uuid.uuid4().hex[:8]}.log")

    def start_worker(self) -> None:
        raise NotImplementedError

    def lose_transport(self) -> None:
        """Forget everything the transport carries, as a Redis flush or a restart does."""
        raise NotImplementedError

    def diagnostics(self) -> str:
        return ""

    def run_all(self, timeout: float = WAIT) -> None:
        if not self.worker_started:
            self.start_worker()
        if not self.queue.wait_idle(timeout):
            pending = [j for j in self.queue.list_jobs() if j.status in ("queued", "running", "retrying")]
            pytest.fail(f"jobs still pending after {timeout}s: {pending}\n{self.diagnostics()}")

    def close(self) -> None:
        self.queue.close()


class InProcessHarness(Harness):
    kind = "inprocess"

    def __init__(self, settings: Settings, ctx: Context, tmp: Path) -> None:
        super().__init__(settings, ctx, tmp)
        self.queue = InProcessJobQueue(settings, ctx.sessions, autostart=False)

    def start_worker(self) -> None:
        assert isinstance(self.queue, InProcessJobQueue)
        self.queue.start()
        self.worker_started = True

    def lose_transport(self) -> None:
        self.queue.close()
        self.queue = InProcessJobQueue(self.settings, self.ctx.sessions, autostart=False)
        self.worker_started = False


class RQHarness(Harness):
    kind = "rq"

    def __init__(self, settings: Settings, ctx: Context, tmp: Path) -> None:
        from saqshy.jobs.rq_queue import RQJobQueue

        super().__init__(settings, ctx, tmp)
        self.queue = RQJobQueue(settings, ctx.sessions)
        self.redis = Redis.from_url(settings.redis_url or "")
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = tmp / "worker.log"
        # More environment for the next worker started (a fault test's slow-down hook).
        self.worker_env: dict[str, str] = {}

    def start_worker(self) -> None:
        settings = self.settings
        env = saqshy_env(
            var_dir=settings.var_dir, models_dir=settings.models_dir, database_url=settings.sqlalchemy_url,
            redis_url=settings.redis_url, rq_queue=settings.rq_queue,
            job_backoff_seconds=settings.job_backoff_seconds, job_backoff_max_seconds=settings.job_backoff_max_seconds,
            job_max_attempts=settings.job_max_attempts,
            job_worker_heartbeat_seconds=settings.job_worker_heartbeat_seconds,
        ) | self.worker_env
        with self.worker_log.open("ab") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "tests.saqshy.jobs.worker_main"],
                cwd=self.tmp,  # away from any developer .env in the checkout
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the RQ scheduler child stops with it
            )
        self.worker_started = True

    def lose_transport(self) -> None:
        token = self.settings.rq_queue
        keys = list(self.redis.scan_iter(match=f"*{token}*", count=1000))
        if keys:
            self.redis.delete(*keys)

    def diagnostics(self) -> str:
        text = self.worker_log.read_text(errors="replace") if self.worker_log.exists() else "(no worker log)"
        return "worker log (tail):\n" + text[-6000:]

    def kill_worker(self) -> None:
        """SIGKILL the worker's process group mid-whatever, as the OOM killer or a power cut does."""
        assert self.worker is not None
        worker, self.worker = self.worker, None
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(15)
        self.worker_started = False

    def stop_worker(self) -> None:
        # The test is over and its jobs are done: no graceful shutdown to wait for (a worker's
        # warm shutdown waits up to a scheduler interval). Killing the group takes the
        # scheduler child too.
        if self.worker is None:
            return
        worker, self.worker = self.worker, None
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(15)

    def close(self) -> None:
        self.stop_worker()
        self.lose_transport()
        self.queue.close()
        self.redis.close()


@pytest.fixture(
    params=[
        pytest.param(("inprocess", "sqlite"), id="inprocess-sqlite"),
        pytest.param(("rq", "sqlite"), id="rq-sqlite", marks=pytest.mark.integration),
        pytest.param(("inprocess", "postgresql"), id="inprocess-postgresql", marks=pytest.mark.integration),
        pytest.param(("rq", "postgresql"), id="rq-postgresql", marks=pytest.mark.integration),
    ]
)
def harness(request: pytest.FixtureRequest, settings: Settings, ctx: Context, tmp_path: Path) -> Iterator[Harness]:
    """The jobs port on each adapter and each SQL engine of record, its worker not yet started."""
    adapter, engine_name = request.param
    changes: dict[str, Any] = {}
    job_ctx = ctx
    if engine_name == "postgresql":
        url = request.getfixturevalue("jobs_postgres_url")
        engine = make_engine(settings, url=url)
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE jobs RESTART IDENTITY"))
        changes["database_url"] = url
        job_ctx = Context(settings=settings, engine=engine, sessions=make_session_factory(engine))
    made: Harness
    if adapter == "inprocess":
        made = InProcessHarness(job_settings(settings, **changes), job_ctx, tmp_path)
    else:
        changes["redis_url"] = request.getfixturevalue("redis_url")
        changes["rq_queue"] = f"saqshy-test-{uuid.uuid4().hex[:12]}"
        made = RQHarness(job_settings(settings, **changes), job_ctx, tmp_path)
    try:
        yield made
    finally:
        made.close()
        if job_ctx is not ctx:
            job_ctx.engine.dispose()
