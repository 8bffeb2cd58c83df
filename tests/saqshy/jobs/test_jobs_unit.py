"""Pieces of the jobs port that need no worker: registry, keys, backoff, adapter choice, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saqshy.context import Context
from saqshy.db.models import JobStatus
from saqshy.jobs import build_job_queue, registry
from saqshy.jobs.base import backoff_seconds, default_key, delivery_id, normalise_args
from saqshy.jobs.inprocess import InProcessJobQueue
from saqshy.jobs.registry import get_job, job
from saqshy.jobs.rq_queue import RQJobQueue, rq_job_id
from saqshy.settings import Settings
from tests.saqshy.jobs.conftest import job_settings
from tests.saqshy.jobs.sample_jobs import calls


def test_backoff_doubles_and_is_capped(settings: Settings) -> None:
    tuned = settings.model_copy(update={"job_backoff_seconds": 2.0, "job_backoff_max_seconds": 30.0})
    assert [backoff_seconds(tuned, attempt) for attempt in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert backoff_seconds(tuned, 10_000) == 30


def test_default_key_depends_on_name_and_args_only() -> None:
    assert default_key("a.b", {"x": 1, "y": [1, 2]}) == default_key("a.b", {"y": [1, 2], "x": 1})
    assert default_key("a.b", {"x": 1}) != default_key("a.b", {"x": 2})
    assert default_key("a.b", {"x": 1}) != default_key("a.c", {"x": 1})
    assert len(default_key("n" * 150, {"x": 1})) <= 200


def test_args_are_normalised_to_json() -> None:
    assert normalise_args({"ids": (1, 2)}) == {"ids": [1, 2]}
    assert normalise_args(None) == {}


def test_rq_job_ids_are_valid_and_distinct_per_delivery() -> None:
    enqueued = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = rq_job_id("saqshy", "search.index:abc", delivery_id(enqueued, 0))
    assert first.replace("-", "").replace("_", "").isalnum()
    # SQLite hands datetimes back naive: the same delivery must keep its name.
    assert first == rq_job_id("saqshy", "search.index:abc", delivery_id(enqueued.replace(tzinfo=None), 0))
    assert first != rq_job_id("saqshy", "search.index:abc", delivery_id(enqueued, 1))
    assert first != rq_job_id("saqshy", "search.index:abc", delivery_id(enqueued + timedelta(microseconds=1), 0))
    assert first != rq_job_id("other.queue", "search.index:abc", delivery_id(enqueued, 0))


def test_registry_refuses_a_second_function_under_one_name() -> None:
    @job("test.unit_once")
    def first(ctx: object) -> None:
        return None

    assert get_job("test.unit_once") is first
    with pytest.raises(ValueError, match="already registered"):

        @job("test.unit_once")
        def second(ctx: object) -> None:
            return None

    with pytest.raises(ValueError):
        job(" spaced ")


def test_the_catalog_registers_every_job_module() -> None:
    import saqshy.jobs.catalog  # noqa: F401

    modules = {spec.fn.__module__ for spec in registry.registered_jobs().values()}
    assert {"saqshy.search.jobs", "classifier.jobs", "triage_api.jobs", "crawlers.jobs"} <= modules


def test_build_job_queue_picks_the_adapter(settings: Settings, ctx: Context) -> None:
    embedded = build_job_queue(settings, ctx.sessions, ctx)
    try:
        assert isinstance(embedded, InProcessJobQueue)
    finally:
        embedded.close()
    # Building the RQ adapter connects lazily: no Redis is needed to construct it.
    with_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    remote = build_job_queue(with_redis, ctx.sessions)
    try:
        assert isinstance(remote, RQJobQueue)
    finally:
        remote.close()


def test_in_process_pool_leaves_unstarted_jobs_queued_on_close(settings: Settings, ctx: Context) -> None:
    tuned = job_settings(settings)
    pool = InProcessJobQueue(tuned, ctx.sessions, autostart=False)
    key = pool.enqueue("test.echo", {"log": "unused.log"})
    pool.close()
    info = pool.get(key)
    assert info is not None and info.status == JobStatus.QUEUED


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    from saqshy.settings import get_settings

    monkeypatch.setenv("SAQSHY_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SAQSHY_REDIS_URL", "")
    monkeypatch.setenv("SAQSHY_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("SAQSHY_JOB_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_cli_lists_retries_and_drains_jobs(cli_env: Settings, ctx: Context, tmp_path: Path) -> None:
    from saqshy.jobs.cli import app

    log = str(tmp_path / "cli.log")
    flag = tmp_path / "flag"
    pool = InProcessJobQueue(cli_env, ctx.sessions, autostart=False)
    key = pool.enqueue("test.until_flag", {"log": log, "flag": str(flag)})
    pool.close()

    runner = CliRunner()
    result = runner.invoke(app, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    failed = runner.invoke(app, ["jobs", "failed", "--json"])
    assert failed.exit_code == 0, failed.output
    rows = [json.loads(line) for line in failed.output.splitlines() if line.startswith("{")]
    assert [row["key"] for row in rows] == [key]
    assert "not there yet" in rows[0]["last_error"]

    flag.touch()
    assert runner.invoke(app, ["jobs", "retry", key]).exit_code == 0
    assert runner.invoke(app, ["worker", "--burst"]).exit_code == 0
    listed = runner.invoke(app, ["jobs", "list", "--status", "succeeded", "--json"])
    assert [json.loads(line)["key"] for line in listed.output.splitlines() if line.startswith("{")] == [key]
    assert len(calls(log)) == 2

    bad = runner.invoke(app, ["jobs", "retry", key])
    assert bad.exit_code != 0
    assert runner.invoke(app, ["jobs", "requeue"]).exit_code == 0
